-- A signing key signs from active_from on; rotation dates new keys in the future so every
-- replica knows a key before any replica signs with it.
ALTER TABLE signing_keys ADD COLUMN active_from INTEGER NOT NULL DEFAULT 0;
