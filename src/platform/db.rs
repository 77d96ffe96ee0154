//! Connecting to PostgreSQL: create the database if it is missing, then migrate.

use std::time::Duration;

use anyhow::{Context as _, anyhow};
use sqlx::migrate::{MigrateDatabase as _, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Postgres};

pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest a request waits for a pooled connection; then it is a 503 `database_unavailable`
/// (every connection busy, or Postgres down and refusing new ones).
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// The URL with any password masked, safe to print.
pub fn redacted(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        Ok(parsed) => parsed.to_string(),
        Err(_) => "<unparseable DATABASE_URL>".to_owned(),
    }
}

fn unreachable(url: &str, err: impl std::fmt::Display) -> anyhow::Error {
    anyhow!("cannot reach PostgreSQL at {} ({err}); start PostgreSQL or set DATABASE_URL", redacted(url))
}

/// Parses `url` and asks the server whether its database exists (bounded by the connect
/// timeout).
async fn probe(url: &str) -> anyhow::Result<(PgConnectOptions, bool)> {
    let options: PgConnectOptions =
        url.parse().map_err(|e| anyhow!("DATABASE_URL is not a valid PostgreSQL URL: {e}"))?;
    let exists = tokio::time::timeout(CONNECT_TIMEOUT, Postgres::database_exists(url))
        .await
        .map_err(|_| unreachable(url, "timed out"))?
        .map_err(|e| unreachable(url, e))?;
    Ok((options, exists))
}

/// Connects, creating the database when it does not exist, and applies pending migrations.
pub async fn connect_and_migrate(url: &str, max_connections: u32) -> anyhow::Result<PgPool> {
    let (options, exists) = probe(url).await?;
    if !exists {
        Postgres::create_database(url)
            .await
            .with_context(|| format!("creating the database of {}", redacted(url)))?;
        tracing::info!(database = redacted(url), "created database");
    }
    let pool = PgPoolOptions::new()
        .max_connections(max_connections)
        // The default pings every connection on every acquire: a second round trip on each
        // proxied request. Broken connections are still found (and replaced) when used.
        .test_before_acquire(false)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_with(options)
        .await
        .map_err(|e| unreachable(url, e))?;
    MIGRATOR.run(&pool).await.context("applying database migrations")?;
    Ok(pool)
}

/// Connects to an existing database without creating or migrating anything.
pub async fn connect_existing(url: &str) -> anyhow::Result<PgPool> {
    let (options, exists) = probe(url).await?;
    if !exists {
        anyhow::bail!(
            "PostgreSQL is reachable but the database of {} does not exist (serve creates it)",
            redacted(url)
        );
    }
    PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(CONNECT_TIMEOUT)
        .connect_with(options)
        .await
        .map_err(|e| unreachable(url, e))
}

/// How the database's applied migrations compare with the ones in this binary.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct MigrationStatus {
    pub applied: usize,
    /// In this binary, not yet applied (`serve` applies them at start).
    pub pending: Vec<i64>,
    /// Applied, but unknown to this binary (the database belongs to a newer release).
    pub unknown: Vec<i64>,
    /// Applied with different contents than this binary's.
    pub changed: Vec<i64>,
}

pub async fn migration_status(db: &PgPool) -> anyhow::Result<MigrationStatus> {
    let exists: bool =
        sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL").fetch_one(db).await?;
    let applied: Vec<(i64, Vec<u8>)> = if exists {
        sqlx::query_as("SELECT version, checksum FROM _sqlx_migrations WHERE success ORDER BY version")
            .fetch_all(db)
            .await?
    } else {
        Vec::new()
    };
    let mut status = MigrationStatus { applied: applied.len(), ..MigrationStatus::default() };
    for migration in MIGRATOR.iter() {
        match applied.iter().find(|(v, _)| *v == migration.version) {
            None => status.pending.push(migration.version),
            Some((_, sum)) if sum.as_slice() != &*migration.checksum => {
                status.changed.push(migration.version)
            }
            Some(_) => {}
        }
    }
    status.unknown =
        applied.iter().map(|(v, _)| *v).filter(|v| !MIGRATOR.iter().any(|m| m.version == *v)).collect();
    Ok(status)
}

/// Whether the database answers a trivial query (readiness).
pub async fn ping(db: &PgPool) -> sqlx::Result<()> {
    sqlx::query("SELECT 1").execute(db).await.map(|_| ())
}

/// Rows a purge deletes per statement: a long backlog goes in short transactions.
pub const PURGE_BATCH: i64 = 5_000;

/// Runs `delete_batch` (one bounded DELETE of at most [`PURGE_BATCH`] rows) until a batch
/// comes back short; returns the rows deleted in all.
pub async fn purge_in_batches<F, Fut>(mut delete_batch: F) -> sqlx::Result<u64>
where
    F: FnMut(i64) -> Fut,
    Fut: std::future::Future<Output = sqlx::Result<u64>>,
{
    let mut total = 0;
    loop {
        let deleted = delete_batch(PURGE_BATCH).await?;
        total += deleted;
        if deleted < PURGE_BATCH as u64 {
            return Ok(total);
        }
    }
}
