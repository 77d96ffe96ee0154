//! Tool catalog timings, in process against a local rmcp upstream: the first sync of N tools
//! (default 2,000, the largest catalog accepted; pages of 100), a resync with nothing
//! changed, a resync with a tenth changed, and direct `tools/call` latency.
//!
//! Run: `cargo bench --bench catalog` (needs PostgreSQL at DATABASE_URL; uses its own
//! database `switchboard_bench_catalog`). `BENCH_TOOLS` and `BENCH_CALLS` change the sizes.

#[path = "../tests/support/mod.rs"]
#[allow(unused_imports)]
mod support;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sqlx::migrate::MigrateDatabase as _;
use support::mcp_server::{Catalog, Guard, McpServer};
use support::{TestApp, expect_json};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

async fn database() -> sqlx::PgPool {
    let base = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/switchboard".into());
    let mut url = url::Url::parse(&base).unwrap();
    url.set_path("switchboard_bench_catalog");
    let url = url.to_string();
    if sqlx::Postgres::database_exists(&url).await.unwrap() {
        sqlx::Postgres::drop_database(&url).await.unwrap();
    }
    switchboard::platform::db::connect_and_migrate(&url, 16).await.unwrap()
}

/// A tool of typical size: a paragraph of description, five typed parameters.
fn tool(i: usize, revision: usize) -> rmcp::model::Tool {
    let properties: serde_json::Map<String, Value> = (0..5)
        .map(|p| {
            (
                format!("param_{p}"),
                json!({"type": "string", "description": format!("Parameter {p} of tool {i}")}),
            )
        })
        .collect();
    let description =
        format!("Tool number {i}, revision {revision}. {}", "It does a useful thing. ".repeat(8));
    Catalog::tool(
        &format!("tool_{i:05}"),
        &description,
        json!({"type": "object", "properties": properties, "required": ["param_0"]}),
    )
}

async fn timed_sync(app: &TestApp, key: &str, id: &str, label: &str) {
    let started = Instant::now();
    let res = app.post_json(&format!("/api/v1/connectors/{id}/sync"), key, json!({})).await;
    let report = expect_json(res, 200).await;
    println!(
        "{label}: {} ms (server {} ms) — added {}, updated {}, unchanged {}",
        started.elapsed().as_millis(),
        report["duration_ms"],
        report["added"]["count"],
        report["updated"]["count"],
        report["unchanged"]["count"],
    );
}

#[tokio::main]
async fn main() {
    let (count, calls) = (env_usize("BENCH_TOOLS", 2_000), env_usize("BENCH_CALLS", 200));
    // `count` tools in all, one of them `echo` for the calls.
    let mut tools: Vec<_> = (1..count).map(|i| tool(i, 0)).collect();
    tools.push(Catalog::tool("echo", "Echo", json!({"type": "object"})));
    let catalog = Catalog::with_tools(tools.clone());
    catalog.set_page_size(100);
    let upstream = McpServer::spawn_catalog(Guard::Open, catalog.clone()).await;
    // Rate limits off: the calls below are measured back to back.
    let app = TestApp::spawn_public(database().await, |s| {
        s.limits.api = switchboard::config::Rate { per_second: 0, burst: 0 };
    })
    .await;
    let t = app.tenant("bench").await;
    let c = app.create_connector(&t.key, json!({"url": upstream.url, "auth": {"mode": "none"}})).await;
    let id = c["id"].as_str().unwrap();
    // Connect waits for its first sync only briefly; time it on its own, then the explicit ones.
    let started = Instant::now();
    let res = app.post_json(&format!("/api/v1/connectors/{id}/connect"), &t.key, json!({})).await;
    expect_json(res, 200).await;
    println!("connect (with its first sync, waited for up to 3 s): {} ms", started.elapsed().as_millis());
    let deadline = Instant::now() + Duration::from_secs(60);
    while app.get_json(&format!("/api/v1/connectors/{id}"), &t.key).await["tools_synced_at"].is_null() {
        assert!(Instant::now() < deadline, "the connect's sync did not finish (see the log)");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    sqlx::query("DELETE FROM tools").execute(&app.state.db).await.unwrap();
    timed_sync(&app, &t.key, id, &format!("first sync of {count} tools")).await;
    timed_sync(&app, &t.key, id, "resync, nothing changed").await;
    for (i, t) in tools.iter_mut().enumerate().take(count - 1).step_by(10) {
        *t = tool(i + 1, 1);
    }
    catalog.set_tools(tools);
    timed_sync(&app, &t.key, id, "resync, a tenth changed").await;

    let mut latencies = Vec::with_capacity(calls);
    for _ in 0..calls {
        let started = Instant::now();
        let res = app
            .post_json(&format!("/api/v1/connectors/{id}/tools/echo/call"), &t.key, json!({"arguments": {}}))
            .await;
        expect_json(res, 200).await;
        latencies.push(started.elapsed());
    }
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize].as_micros();
    println!(
        "direct tools/call ({calls} calls, each its own MCP session): p50 {} µs, p95 {} µs",
        at(0.5),
        at(0.95)
    );
}
