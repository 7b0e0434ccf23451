-- Refresh-token rotation (`tokens.rotate_refresh_tokens`): every refresh token a rotation
-- replaced, by digest, so a rotated-out token presented again is recognised (a concurrent
-- refresh within `tokens.rotation_grace`, or theft). Rows go with their session.
CREATE TABLE refresh_rotations (
    refresh_hash BLOB PRIMARY KEY,
    session_id   TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    rotated_at   INTEGER NOT NULL  -- Unix milliseconds (the grace is seconds long)
);
CREATE INDEX refresh_rotations_session ON refresh_rotations(session_id);

