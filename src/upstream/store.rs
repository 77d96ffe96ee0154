//! SQL of the upstream path: the rate windows of REST connectors (`rest_rate_windows`).

use std::time::Duration;

use sqlx::PgPool;
use uuid::Uuid;

/// Counts one call of connector `id` under rule `rule` in the current fixed window of
/// `interval` (aligned on the database's clock, so every replica shares it). Returns the
/// calls counted in this window, this one included, and the time until the window ends.
pub async fn count_call(
    db: &PgPool,
    id: Uuid,
    rule: i16,
    interval: Duration,
) -> sqlx::Result<(i64, Duration)> {
    let seconds = interval.as_secs_f64().max(1.0);
    let (calls, left): (i32, f64) = sqlx::query_as(
        "INSERT INTO rest_rate_windows (connector_id, rule, window_start, calls)
         VALUES ($1, $2, to_timestamp(floor(extract(epoch FROM now()) / $3) * $3), 1)
         ON CONFLICT (connector_id, rule, window_start)
             DO UPDATE SET calls = rest_rate_windows.calls + 1
         RETURNING calls,
                   extract(epoch FROM window_start + make_interval(secs => $3) - now())::float8",
    )
    .bind(id)
    .bind(rule)
    .bind(seconds)
    .fetch_one(db)
    .await?;
    if calls == 1 {
        // The first call of a window: earlier windows are over.
        sqlx::query(
            "DELETE FROM rest_rate_windows
             WHERE connector_id = $1 AND rule = $2 AND window_start < now() - make_interval(secs => $3)",
        )
        .bind(id)
        .bind(rule)
        .bind(seconds)
        .execute(db)
        .await?;
    }
    Ok((i64::from(calls), Duration::from_secs_f64(left.max(0.0))))
}
