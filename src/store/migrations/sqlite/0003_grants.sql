-- One-time grants minted by the admin API (magic links, second factors, SSO done by the app):
-- exchanged once for a new session. Only a SHA-256 digest of the grant is stored.
CREATE TABLE grants (
    grant_hash BLOB PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX users_created ON users(created_at);
CREATE INDEX sessions_expires ON sessions(expires_at);
