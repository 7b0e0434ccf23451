-- API keys (user keys and server keys): only a SHA-256 digest of the key is stored.
CREATE TABLE api_keys (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    key_hash   BYTEA NOT NULL UNIQUE,
    disabled   BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    UNIQUE (user_id, name)
);

-- Confirmation and password-reset tokens of local-userpass accounts: single use, expiring,
-- stored as a digest; `id` is the tokenId the client sends back with the token.
CREATE TABLE user_tokens (
    id         TEXT PRIMARY KEY,
    kind       TEXT NOT NULL,
    email      TEXT NOT NULL,
    token_hash BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX user_tokens_email ON user_tokens(email);
