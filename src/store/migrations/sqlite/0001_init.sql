-- sessiongate schema, SQLite. Timestamps are Unix seconds; secrets are stored only as hashes.

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    user_type     TEXT NOT NULL DEFAULT 'normal',
    data          TEXT NOT NULL DEFAULT '{}',
    disabled      INTEGER NOT NULL DEFAULT 0,  -- 0/1
    created_at    INTEGER NOT NULL,
    last_login_at INTEGER
);

CREATE TABLE identities (
    id            TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    provider_type TEXT NOT NULL,
    provider_id   TEXT NOT NULL,
    external_id   TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    UNIQUE (provider_type, external_id)
);
CREATE INDEX identities_user ON identities(user_id);

CREATE TABLE local_accounts (
    email         TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    password_hash TEXT NOT NULL,
    confirmed     INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE sessions (
    id            TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    provider_type TEXT NOT NULL,
    device_id     TEXT NOT NULL,
    refresh_hash  BLOB NOT NULL UNIQUE,
    client_ip     TEXT,
    user_agent    TEXT,
    created_at    INTEGER NOT NULL,
    last_used_at  INTEGER NOT NULL,
    expires_at    INTEGER,
    revoked_at    INTEGER
);
CREATE INDEX sessions_user ON sessions(user_id);

-- Append-only: every revoked session, numbered so every reader can catch up in order.
CREATE TABLE revocations (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    revoked_at INTEGER NOT NULL
);

CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE signing_keys (
    kid        TEXT PRIMARY KEY,
    algorithm  TEXT NOT NULL,
    secret     BLOB NOT NULL,
    created_at INTEGER NOT NULL
);
