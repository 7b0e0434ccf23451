//! `SqlStore`'s event outbox (`Store::enqueue_event` … `purge_events`): rows inserted when an
//! event is emitted, claimed under a lease by the delivery task of any process, then marked
//! done (delivered or given up) or rescheduled, and purged after their retention.
//!
//! # Order and exclusion
//! A claim takes only the oldest pending row of each `order_key` (a user's next event waits
//! until the previous one is done), only rows whose lease is absent or expired, and only rows
//! due now. On PostgreSQL the candidate rows are locked `FOR UPDATE SKIP LOCKED`, so two
//! replicas claiming at once take disjoint rows; a row whose lease another claim has just
//! committed is re-checked under the lock and skipped. SQLite runs the claim as one statement
//! under its single writer. A lease that expires (its process died mid-attempt) makes the row
//! claimable again: delivery is at least once.
//!
//! Does not decide when to retry or give up; the caller passes times in.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Dialect, SqlStore};
use crate::store::{ClaimedEvent, OutboxEvent, StoreError};

impl SqlStore {
    pub(super) async fn outbox_enqueue(&self, event: &OutboxEvent) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO event_outbox (id, order_key, event_type, body, created_at, next_attempt_at)
             VALUES ($1, $2, $3, $4, $5, $5)",
        )
        .bind(&event.id)
        .bind(&event.order_key)
        .bind(&event.event_type)
        .bind(&event.body)
        .bind(event.created_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub(super) async fn outbox_claim(
        &self,
        owner: &str,
        now: i64,
        lease_until: i64,
        limit: i64,
    ) -> Result<Vec<ClaimedEvent>, StoreError> {
        let lock = match self.dialect {
            Dialect::Postgres => "FOR UPDATE OF o SKIP LOCKED",
            Dialect::Sqlite => "",
        };
        let rows = sqlx::query(&format!(
            "UPDATE event_outbox
             SET lease_owner = $1, lease_until = $2, attempts = attempts + 1
             WHERE seq IN (
                 SELECT o.seq FROM event_outbox o
                 WHERE o.done_at IS NULL
                   AND o.next_attempt_at <= $3
                   AND (o.lease_until IS NULL OR o.lease_until <= $3)
                   AND NOT EXISTS (
                       SELECT 1 FROM event_outbox e
                       WHERE e.order_key = o.order_key AND e.done_at IS NULL AND e.seq < o.seq)
                 ORDER BY o.seq
                 LIMIT $4
                 {lock})
             RETURNING seq, id, event_type, body, created_at, attempts"
        ))
        .bind(owner)
        .bind(lease_until)
        .bind(now)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let mut claimed = rows
            .iter()
            .map(claimed_event)
            .collect::<Result<Vec<_>, _>>()?;
        claimed.sort_by_key(|event| event.seq);
        Ok(claimed)
    }

    pub(super) async fn outbox_finish(
        &self,
        seq: i64,
        at: i64,
        dropped: bool,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE event_outbox
             SET done_at = $1, dropped = $2, lease_owner = NULL, lease_until = NULL
             WHERE seq = $3 AND done_at IS NULL",
        )
        .bind(at)
        .bind(i64::from(dropped))
        .bind(seq)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub(super) async fn outbox_retry(
        &self,
        seq: i64,
        owner: &str,
        next_attempt_at: i64,
        error: &str,
    ) -> Result<bool, StoreError> {
        let updated = sqlx::query(
            "UPDATE event_outbox
             SET next_attempt_at = $1, last_error = $2, lease_owner = NULL, lease_until = NULL
             WHERE seq = $3 AND lease_owner = $4 AND done_at IS NULL",
        )
        .bind(next_attempt_at)
        .bind(error)
        .bind(seq)
        .bind(owner)
        .execute(&self.pool)
        .await?;
        Ok(updated.rows_affected() == 1)
    }

    pub(super) async fn outbox_release(&self, owner: &str) -> Result<u64, StoreError> {
        let updated = sqlx::query(
            "UPDATE event_outbox SET lease_owner = NULL, lease_until = NULL
             WHERE lease_owner = $1 AND done_at IS NULL",
        )
        .bind(owner)
        .execute(&self.pool)
        .await?;
        Ok(updated.rows_affected())
    }

    pub(super) async fn outbox_pending(&self) -> Result<i64, StoreError> {
        let count: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM event_outbox WHERE done_at IS NULL")
                .fetch_one(&self.pool)
                .await?;
        Ok(count)
    }

    pub(super) async fn outbox_purge(
        &self,
        done_before: i64,
        limit: i64,
    ) -> Result<u64, StoreError> {
        let deleted = sqlx::query(
            "DELETE FROM event_outbox WHERE seq IN (
                 SELECT seq FROM event_outbox
                 WHERE done_at IS NOT NULL AND done_at < $1
                 LIMIT $2)",
        )
        .bind(done_before)
        .bind(limit)
        .execute(&self.pool)
        .await?;
        Ok(deleted.rows_affected())
    }
}

fn claimed_event(row: &AnyRow) -> Result<ClaimedEvent, sqlx::Error> {
    Ok(ClaimedEvent {
        seq: row.try_get("seq")?,
        id: row.try_get("id")?,
        event_type: row.try_get("event_type")?,
        body: row.try_get("body")?,
        created_at: row.try_get("created_at")?,
        attempts: row.try_get("attempts")?,
    })
}
