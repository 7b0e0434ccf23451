-- Brute-force protection (`[login_limits]`): one row per counted key (an account, a client
-- address or the pair, per action; the key is a digest, never the email or address itself).
-- Every replica on one store counts in the same rows, each attempt with one atomic upsert.
CREATE TABLE login_throttle (
    key           TEXT PRIMARY KEY,
    -- Start of the current counting window (unix seconds).
    window_start  BIGINT NOT NULL,
    -- Failures counted in the window.
    failures      BIGINT NOT NULL,
    -- The limit in force when the row was last counted (for operators reading the table).
    max_failures  BIGINT NOT NULL,
    -- Blocks so far (forgotten after `forget_after` without a failure).
    trips         BIGINT NOT NULL DEFAULT 0,
    -- Length in seconds of the next block (doubles per trip up to `max_block`).
    next_block    BIGINT NOT NULL,
    -- Refused until then (0: not blocked).
    blocked_until BIGINT NOT NULL DEFAULT 0,
    -- (account, client) rows: the last successful login of that client to that account.
    known_at      BIGINT,
    updated_at    BIGINT NOT NULL
);
CREATE INDEX login_throttle_updated ON login_throttle(updated_at);
