//! `SqlStore`'s login-throttle counters (`Store::throttle_*`): the rows of `login_throttle`,
//! read before an attempt and counted after a failure with one atomic upsert, so replicas on
//! one PostgreSQL share every count.
//!
//! Does not decide what is limited or who is refused; `crate::throttle` does. Keys arrive
//! already digested (no email or address is stored).

use sqlx::Row;
use sqlx::any::AnyRow;

use super::SqlStore;
use crate::store::StoreError;

/// One key's counters as the store holds them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThrottleState {
    pub key: String,
    /// Failures counted in the current window.
    pub failures: i64,
    /// Blocks so far (reset after `forget_after` without a failure).
    pub trips: i64,
    /// Refused until then, unix seconds (0 or past: not blocked).
    pub blocked_until: i64,
    /// Last successful login through this (account, client) key.
    pub known_at: Option<i64>,
}

/// One key a failure counts against, and its limit per window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThrottleHit {
    pub key: String,
    pub limit: i64,
}

/// The timing of `[login_limits]`, in seconds, as the counting statement applies it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleRules {
    pub window: i64,
    pub block: i64,
    pub max_block: i64,
    pub forget_after: i64,
}

const COLUMNS: &str = "key, failures, trips, blocked_until, known_at";

fn state(row: &AnyRow) -> Result<ThrottleState, sqlx::Error> {
    Ok(ThrottleState {
        key: row.try_get("key")?,
        failures: row.try_get("failures")?,
        trips: row.try_get("trips")?,
        blocked_until: row.try_get("blocked_until")?,
        known_at: row.try_get("known_at")?,
    })
}

/// Parameters shared by every row of the counting statement.
const NOW: &str = "$1";
const WINDOW: &str = "$2";
const FORGET: &str = "$3";
const BLOCK: &str = "$4";
const MAX_BLOCK: &str = "$5";
/// Values bound per row: key, max_failures, and the new row's failures, trips, next_block,
/// blocked_until.
const PER_ROW: usize = 6;

/// The counting upsert for `rows` keys. A row that is blocked now is left alone (and not
/// returned): failures that were already in flight when a block began do not lengthen it.
/// Every `SET` expression reads the row as it was before the statement (both backends).
fn count_failures_sql(rows: usize) -> String {
    let t = "login_throttle";
    // Failures so far in the window; 0 when the window is over.
    let current =
        format!("(CASE WHEN {t}.window_start + {WINDOW} <= {NOW} THEN 0 ELSE {t}.failures END)");
    let grown = format!("({current} + 1)");
    let trip = format!("({grown} >= excluded.max_failures)");
    let forgotten = format!("({t}.updated_at + {FORGET} <= {NOW})");
    let next_block = format!("(CASE WHEN {forgotten} THEN {BLOCK} ELSE {t}.next_block END)");
    let trips = format!("(CASE WHEN {forgotten} THEN 0 ELSE {t}.trips END)");
    let values = (0..rows)
        .map(|row| {
            let p = |n: usize| format!("${}", 6 + row * PER_ROW + n);
            format!(
                "({}, {NOW}, {}, {}, {}, {}, {}, NULL, {NOW})",
                p(0),
                p(2),
                p(1),
                p(3),
                p(4),
                p(5)
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "INSERT INTO {t} (key, window_start, failures, max_failures, trips, next_block, blocked_until, known_at, updated_at)
         VALUES {values}
         ON CONFLICT (key) DO UPDATE SET
           failures = CASE WHEN {trip} THEN 0 ELSE {grown} END,
           window_start = CASE WHEN {trip} THEN {NOW} + {next_block}
                               WHEN {t}.window_start + {WINDOW} <= {NOW} THEN {NOW}
                               ELSE {t}.window_start END,
           blocked_until = CASE WHEN {trip} THEN {NOW} + {next_block} ELSE {t}.blocked_until END,
           next_block = CASE WHEN {trip} THEN
                          (CASE WHEN {next_block} * 2 > {MAX_BLOCK} THEN {MAX_BLOCK} ELSE {next_block} * 2 END)
                        ELSE {next_block} END,
           trips = CASE WHEN {trip} THEN {trips} + 1 ELSE {trips} END,
           max_failures = excluded.max_failures,
           updated_at = {NOW}
         WHERE {t}.blocked_until <= {NOW}
         RETURNING {COLUMNS}"
    )
}

impl SqlStore {
    pub(super) async fn throttle_read(
        &self,
        keys: &[String],
    ) -> Result<Vec<ThrottleState>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let list = (1..=keys.len())
            .map(|n| format!("${n}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!("SELECT {COLUMNS} FROM login_throttle WHERE key IN ({list})");
        let mut query = sqlx::query(&sql);
        for key in keys {
            query = query.bind(key);
        }
        let rows = query.fetch_all(&self.pool).await?;
        Ok(rows.iter().map(state).collect::<Result<Vec<_>, _>>()?)
    }

    pub(super) async fn throttle_count(
        &self,
        hits: &[ThrottleHit],
        rules: &ThrottleRules,
        now: i64,
    ) -> Result<Vec<ThrottleState>, StoreError> {
        if hits.is_empty() {
            return Ok(Vec::new());
        }
        let sql = count_failures_sql(hits.len());
        let mut query = sqlx::query(&sql)
            .bind(now)
            .bind(rules.window)
            .bind(rules.forget_after)
            .bind(rules.block)
            .bind(rules.max_block);
        for hit in hits {
            // A first failure that already reaches the limit (a limit of 1) trips at once.
            let (failures, trips, next_block, blocked_until) = if hit.limit <= 1 {
                (
                    0_i64,
                    1_i64,
                    rules.block.saturating_mul(2).min(rules.max_block),
                    now.saturating_add(rules.block),
                )
            } else {
                (1, 0, rules.block, 0)
            };
            query = query
                .bind(&hit.key)
                .bind(hit.limit)
                .bind(failures)
                .bind(trips)
                .bind(next_block)
                .bind(blocked_until);
        }
        let rows = query.fetch_all(&self.pool).await?;
        Ok(rows.iter().map(state).collect::<Result<Vec<_>, _>>()?)
    }

    pub(super) async fn throttle_success(
        &self,
        key: &str,
        rules: &ThrottleRules,
        now: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO login_throttle (key, window_start, failures, max_failures, trips, next_block, blocked_until, known_at, updated_at)
             VALUES ($1, $2, 0, 0, 0, $3, 0, $2, $2)
             ON CONFLICT (key) DO UPDATE SET failures = 0, trips = 0, next_block = $3, known_at = $2, updated_at = $2",
        )
        .bind(key)
        .bind(now)
        .bind(rules.block)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub(super) async fn throttle_purge(
        &self,
        idle_before: i64,
        now: i64,
        known_before: i64,
    ) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "DELETE FROM login_throttle WHERE updated_at < $1 AND blocked_until < $2
             AND (known_at IS NULL OR known_at < $3)",
        )
        .bind(idle_before)
        .bind(now)
        .bind(known_before)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counting_statement_numbers_each_row_after_the_shared_parameters() {
        let sql = count_failures_sql(2);
        assert!(
            sql.contains("($6, $1, $8, $7, $9, $10, $11, NULL, $1)"),
            "{sql}"
        );
        assert!(
            sql.contains("($12, $1, $14, $13, $15, $16, $17, NULL, $1)"),
            "{sql}"
        );
        assert!(!sql.contains("$18"));
    }
}
