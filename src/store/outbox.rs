//! The rows of the event outbox (`Store::enqueue_event` and the delivery methods): what an
//! emitted event is stored as, and what a claim hands to the deliverer.
//!
//! Does not build event bodies or decide retries; `crate::events` does. Times are Unix
//! milliseconds.

/// An event to record, body already serialized (it is sent byte for byte as stored).
#[derive(Debug, Clone)]
pub struct OutboxEvent {
    /// The event id (also the body's `id` and the de-duplication header).
    pub id: String,
    /// Events with the same key are delivered one at a time, oldest first: the user id, or
    /// the event id for an event about no user.
    pub order_key: String,
    /// The event name (`session.created`, …), for logs and metrics.
    pub event_type: String,
    /// The JSON body.
    pub body: String,
    /// When it happened (ms); also the first attempt's due time.
    pub created_at: i64,
}

/// An event claimed for one delivery attempt (leased to the claimer until `lease_until`).
#[derive(Debug, Clone)]
pub struct ClaimedEvent {
    /// Position in the outbox; identifies the row in `finish_event` / `retry_event`.
    pub seq: i64,
    pub id: String,
    pub event_type: String,
    pub body: String,
    pub created_at: i64,
    /// Attempts so far, this one included (1 on the first).
    pub attempts: i64,
}
