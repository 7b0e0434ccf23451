-- sessiongate schema, PostgreSQL. Timestamps are Unix seconds; secrets are stored only as
-- hashes. Flags are BIGINT 0/1 so both backends decode them alike.

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    user_type     TEXT NOT NULL DEFAULT 'normal',
    data          TEXT NOT NULL DEFAULT '{}',
    disabled      BIGINT NOT NULL DEFAULT 0,
    created_at    BIGINT NOT NULL,
    last_login_at BIGINT
);

CREATE TABLE identities (
    id            TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    provider_type TEXT NOT NULL,
    provider_id   TEXT NOT NULL,
    external_id   TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    UNIQUE (provider_type, external_id)
);
CREATE INDEX identities_user ON identities(user_id);

CREATE TABLE local_accounts (
    email         TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    password_hash TEXT NOT NULL,
    confirmed     BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE sessions (
    id            TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    provider_type TEXT NOT NULL,
    device_id     TEXT NOT NULL,
    refresh_hash  BYTEA NOT NULL UNIQUE,
    client_ip     TEXT,
    user_agent    TEXT,
    created_at    BIGINT NOT NULL,
    last_used_at  BIGINT NOT NULL,
    expires_at    BIGINT,
    revoked_at    BIGINT
);
CREATE INDEX sessions_user ON sessions(user_id);

-- Append-only: every revoked session, numbered so every replica can catch up in order.
-- Writers take an advisory lock first, so numbers are committed in increasing order.
CREATE TABLE revocations (
    seq        BIGSERIAL PRIMARY KEY,
    session_id TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    revoked_at BIGINT NOT NULL
);

CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE signing_keys (
    kid        TEXT PRIMARY KEY,
    algorithm  TEXT NOT NULL,
    secret     BYTEA NOT NULL,
    created_at BIGINT NOT NULL
);
