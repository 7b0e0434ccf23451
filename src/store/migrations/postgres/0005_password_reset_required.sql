-- Accounts imported without a password (App Services never exports hashes): login answers
-- that a password reset is needed until `reset` sets one; the password_hash is '' meanwhile.
ALTER TABLE local_accounts ADD COLUMN password_reset_required BIGINT NOT NULL DEFAULT 0;
