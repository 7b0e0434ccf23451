-- Session lifecycle events waiting for (or done with) delivery to the `[events]` webhook.
-- `seq` orders events; a user's events go out one at a time in `seq` order (`order_key` is the
-- user id, or the event id for an event about no user). Times are Unix milliseconds.
-- A row is pending while `done_at` is NULL; `lease_owner`/`lease_until` mark the process
-- delivering it; done rows (delivered, or `dropped` after `events.max_age`) are purged after
-- `events.retention`.
CREATE TABLE event_outbox (
    seq             BIGSERIAL PRIMARY KEY,
    id              TEXT NOT NULL UNIQUE,
    order_key       TEXT NOT NULL,
    event_type      TEXT NOT NULL,
    body            TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    lease_owner     TEXT,
    lease_until     BIGINT,
    last_error      TEXT,
    done_at         BIGINT,
    dropped         BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX event_outbox_pending ON event_outbox(order_key, seq) WHERE done_at IS NULL;
CREATE INDEX event_outbox_due ON event_outbox(next_attempt_at) WHERE done_at IS NULL;
CREATE INDEX event_outbox_done ON event_outbox(done_at) WHERE done_at IS NOT NULL;
