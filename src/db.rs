//! Connecting to PostgreSQL: create the database if it is missing, then migrate.

use std::time::Duration;

use anyhow::{Context as _, anyhow};
use sqlx::migrate::{MigrateDatabase as _, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Postgres};

pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

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

/// Connects, creating the database when it does not exist, and applies pending migrations.
pub async fn connect_and_migrate(url: &str, max_connections: u32) -> anyhow::Result<PgPool> {
    let options: PgConnectOptions =
        url.parse().map_err(|e| anyhow!("DATABASE_URL is not a valid PostgreSQL URL: {e}"))?;
    let exists = tokio::time::timeout(CONNECT_TIMEOUT, Postgres::database_exists(url))
        .await
        .map_err(|_| unreachable(url, "timed out"))?
        .map_err(|e| unreachable(url, e))?;
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
        .acquire_timeout(CONNECT_TIMEOUT)
        .connect_with(options)
        .await
        .map_err(|e| unreachable(url, e))?;
    MIGRATOR.run(&pool).await.context("applying database migrations")?;
    Ok(pool)
}
