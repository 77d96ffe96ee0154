//! Refresh throughput: 10,000 OAuth connectors whose tokens are due, a local authorization
//! server, two worker replicas on one database. Reports the time until every connector is
//! refreshed, the refreshes the AS saw (must equal the connector count: no duplicates), and
//! database transactions per refresh.
//!
//! Run: `cargo bench --bench refresh` (needs PostgreSQL at DATABASE_URL or the local default;
//! uses its own database `switchboard_bench_refresh`). `BENCH_CONNECTORS` changes the count.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Form, State};
use axum::routing::post;
use serde_json::json;
use sqlx::PgPool;
use sqlx::migrate::MigrateDatabase as _;
use switchboard::config::Settings;
use switchboard::connectors::{Presets, SecretField};
use switchboard::http::AppState;
use switchboard::oauth::{OAuthClientRef, OAuthGrant, TokenEndpointAuthMethod};
use switchboard::platform::crypto::Keyring;
use uuid::Uuid;

type Seen = Arc<Mutex<HashMap<String, u32>>>;

/// Refresh tokens look like `rt-<connector>-<n>`: the AS counts refreshes per connector.
async fn token(
    State(seen): State<Seen>,
    Form(form): Form<HashMap<String, String>>,
) -> axum::Json<serde_json::Value> {
    let presented = form.get("refresh_token").cloned().unwrap_or_default();
    let connector = presented.rsplit_once('-').map(|(connector, _)| connector).unwrap_or_default().to_owned();
    let n = {
        let mut seen = seen.lock().unwrap();
        let n = seen.entry(connector.clone()).or_default();
        *n += 1;
        *n
    };
    axum::Json(json!({
        "access_token": format!("at-{connector}-{n}"),
        "refresh_token": format!("{connector}-{n}"),
        "token_type": "Bearer",
        "expires_in": 3600,
    }))
}

async fn database() -> (PgPool, String) {
    let base = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/switchboard".into());
    let mut url = url::Url::parse(&base).unwrap();
    url.set_path("switchboard_bench_refresh");
    let url = url.to_string();
    if sqlx::Postgres::database_exists(&url).await.unwrap() {
        sqlx::Postgres::drop_database(&url).await.unwrap();
    }
    (switchboard::platform::db::connect_and_migrate(&url, 32).await.unwrap(), url)
}

async fn seed(db: &PgPool, keyring: &Keyring, count: usize, token_url: &str) -> Uuid {
    let tenant = Uuid::now_v7();
    sqlx::query("INSERT INTO tenants (id, name) VALUES ($1, 'bench')")
        .bind(tenant)
        .execute(db)
        .await
        .unwrap();
    let grant = |_: Uuid| OAuthGrant {
        issuer: None,
        token_url: token_url.to_owned(),
        revocation_url: None,
        resource: "https://mcp.example.com/mcp".into(),
        scopes: vec![],
        client: OAuthClientRef::Connector {
            client_id: "bench".into(),
            method: TokenEndpointAuthMethod::None,
        },
        redirect_uri: None,
        iss_required: false,
    };
    for chunk in (0..count).collect::<Vec<_>>().chunks(1000) {
        let ids: Vec<Uuid> = chunk.iter().map(|_| Uuid::now_v7()).collect();
        let grants: Vec<serde_json::Value> =
            ids.iter().map(|id| serde_json::to_value(grant(*id)).unwrap()).collect();
        sqlx::query(
            "INSERT INTO connectors (id, tenant_id, name, url, transport, auth, status, oauth_grant,
                                     token_expires_at, next_refresh_at)
             SELECT id, $2, 'bench', 'https://mcp.example.com/mcp', 'streamable_http',
                    '{\"mode\":\"oauth2_authorization_code\",\"client_id\":\"bench\"}', 'connected', g,
                    now() + interval '2 minutes', now()
             FROM UNNEST($1::uuid[], $3::jsonb[]) AS t(id, g)",
        )
        .bind(&ids)
        .bind(tenant)
        .bind(&grants)
        .execute(db)
        .await
        .unwrap();
        let (mut cids, mut fields, mut kids, mut cts) = (vec![], vec![], vec![], vec![]);
        for id in &ids {
            for (field, value) in [
                (SecretField::AccessToken, format!("at-{id}-0")),
                (SecretField::RefreshToken, format!("{id}-0")),
            ] {
                let sealed = keyring.seal(value.as_bytes(), &field.aad(tenant, *id));
                cids.push(*id);
                fields.push(field.as_str());
                kids.push(sealed.key_id);
                cts.push(sealed.ciphertext);
            }
        }
        sqlx::query(
            "INSERT INTO connector_secrets (connector_id, tenant_id, field, key_id, ciphertext)
             SELECT c, $2, f, k, ct FROM UNNEST($1::uuid[], $3::text[], $4::text[], $5::bytea[]) AS t(c, f, k, ct)",
        )
        .bind(&cids)
        .bind(tenant)
        .bind(&fields)
        .bind(&kids)
        .bind(&cts)
        .execute(db)
        .await
        .unwrap();
    }
    tenant
}

/// Committed transactions and rows written in this database so far. Backends report their
/// statistics when they end, so callers close their pool first and ask on a new connection.
async fn activity(url: &str) -> (i64, i64) {
    let db = PgPool::connect(url).await.unwrap();
    let row: (i64, i64) = sqlx::query_as(
        "SELECT xact_commit + xact_rollback, tup_inserted + tup_updated + tup_deleted
         FROM pg_stat_database WHERE datname = current_database()",
    )
    .fetch_one(&db)
    .await
    .unwrap();
    db.close().await;
    row
}

#[tokio::main]
async fn main() {
    let count: usize = std::env::var("BENCH_CONNECTORS").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000);
    let seen = Seen::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let token_url = format!("http://{}/token", listener.local_addr().unwrap());
    let app = axum::Router::new().route("/token", post(token)).with_state(seen.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let (db, url) = database().await;
    let spec = Keyring::generate_entry("bench");
    seed(&db, &Keyring::parse(&spec).unwrap(), count, &token_url).await;
    let settings = Settings { allow_private_networks: true, ..Settings::default() };
    // Two replicas: same database and keys, separate processes' worth of state.
    let replicas: Vec<AppState> = (0..2)
        .map(|_| {
            AppState::new(db.clone(), Keyring::parse(&spec).unwrap(), Presets::builtin(), settings.clone())
        })
        .collect();

    let before = activity(&url).await;
    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for replica in replicas {
        workers.spawn(async move {
            let mut refreshed = 0;
            loop {
                let report = switchboard::worker::tick(&switchboard::worker::Context {
                    connectors: replica.connectors(),
                    shutdown: replica.shutdown.clone(),
                })
                .await
                .unwrap();
                refreshed += report.refreshed;
                if report.claimed == 0 {
                    return refreshed;
                }
            }
        });
    }
    let per_replica: Vec<usize> = workers.join_all().await;
    let elapsed = started.elapsed();
    let still_due: i64 = sqlx::query_scalar("SELECT count(*) FROM connectors WHERE next_refresh_at <= now()")
        .fetch_one(&db)
        .await
        .unwrap();
    db.close().await;
    tokio::time::sleep(Duration::from_millis(1500)).await; // ended backends report their counters
    let after = activity(&url).await;

    let seen = seen.lock().unwrap();
    let total: u32 = seen.values().sum();
    let duplicates = seen.values().filter(|&&n| n > 1).count();
    println!("connectors:              {count}");
    println!(
        "time to refresh all:     {:.2} s ({:.0} refreshes/s)",
        elapsed.as_secs_f64(),
        count as f64 / elapsed.as_secs_f64()
    );
    println!("refreshes per replica:   {per_replica:?}");
    println!("refreshes the AS saw:    {total} (connectors refreshed more than once: {duplicates})");
    println!("still due afterwards:    {still_due}");
    println!("db transactions/refresh: {:.2}", (after.0 - before.0) as f64 / count as f64);
    println!("db rows written/refresh: {:.2}", (after.1 - before.1) as f64 / count as f64);
    assert_eq!(total as usize, count, "every connector refreshed exactly once");
    assert_eq!(duplicates, 0);
    assert_eq!(still_due, 0);
}
