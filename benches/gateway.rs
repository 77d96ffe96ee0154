//! Gateway overhead (issue 13): `tools/call` through a gateway's MCP endpoint vs the same call
//! direct to the rmcp echo upstream, side by side in one run, at concurrency 1 and 32, each
//! client its own session. The real `switchboard` binary (release, rate limits off, the
//! gateway's key rate 0 = unlimited) in its own process; the load generator and the echo
//! upstream in this one (the pieces of `benches/proxy`). One table: throughput and its
//! ratio to direct, p50/p99, p50 overhead, and the requests the upstream saw per call (1.0
//! when the gateway's upstream session is pooled). Any failed request (a 429 included) is
//! printed and nothing is measured.
//!
//! Needs PostgreSQL at DATABASE_URL. `BENCH_REQUESTS` and `BENCH_ROUNDS` change the sizes,
//! `BENCH_LOG` switchboard's log filter, `BENCH_SWITCHBOARD` the binary.

#[path = "../tests/support/mod.rs"]
#[allow(unused_imports)]
mod support;

#[path = "proxy/load.rs"]
mod load;
#[path = "proxy/procs.rs"]
#[allow(dead_code)]
mod procs;

use std::time::Duration;

use serde_json::{Value, json};
use sqlx::migrate::MigrateDatabase as _;
use support::mcp_server::{Guard, McpServer};

use load::{Endpoint, Run, fail, load, median, sessions};

const UPSTREAM_TOKEN: &str = "upstream";

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// A fresh database next to DATABASE_URL's.
async fn database() -> String {
    let base = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/switchboard".into());
    let mut url = url::Url::parse(&base).unwrap();
    url.set_path("switchboard_bench_gateway");
    let database_url = url.to_string();
    if sqlx::Postgres::database_exists(&database_url).await.unwrap() {
        sqlx::Postgres::drop_database(&database_url).await.unwrap();
    }
    database_url
}

async fn post(base: &str, key: &str, path: &str, body: Value) -> Value {
    let res = reqwest::Client::new().post(format!("{base}{path}")).bearer_auth(key).json(&body).send().await;
    let res = res.unwrap();
    let status = res.status();
    let body: Value = res.json().await.unwrap();
    assert!(status.is_success(), "{path}: {status} {body}");
    body
}

/// A gateway `bench` exposing the upstream's `echo` (connected through a bearer connector),
/// unlimited per key; returns its MCP URL and a gateway key.
async fn gateway(base: &str, key: &str, connector: &str) -> (String, String) {
    let g =
        post(base, key, "/api/v1/gateways", json!({"slug": "bench", "name": "Bench", "key_rps": 0})).await;
    let gid = g["id"].as_str().unwrap();
    let tool = json!({"connector_id": connector, "tool": "echo"});
    post(base, key, &format!("/api/v1/gateways/{gid}/tools"), tool).await;
    let issued = post(base, key, &format!("/api/v1/gateways/{gid}/keys"), json!({})).await;
    (format!("{base}/api/v1/gateways/bench/mcp"), issued["api_key"].as_str().unwrap().to_owned())
}

#[tokio::main]
async fn main() {
    let database_url = database().await;
    let keys = switchboard::platform::crypto::Keyring::generate_entry("bench");
    let upstream = McpServer::spawn(Guard::Authorization(format!("Bearer {UPSTREAM_TOKEN}"))).await;
    let log = std::env::var("BENCH_LOG").unwrap_or_else(|_| switchboard::config::DEFAULT_LOG_FILTER.into());
    let server = procs::switchboard(&database_url, &keys, &log, &[]).await;
    let key = procs::api_key(&database_url, &keys);
    let auth = json!({"mode": "bearer", "token": UPSTREAM_TOKEN});
    let body = json!({"url": upstream.url, "auth": auth, "discover": false});
    let connector = procs::connector(&server, &key, body).await;
    // The connect's catalog sync runs after the connect answers: the tool must be there.
    while reqwest::Client::new()
        .get(format!("{}/api/v1/connectors/{connector}/tools/echo", server.base))
        .bearer_auth(&key)
        .send()
        .await
        .is_ok_and(|r| r.status() == 404)
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (url, gateway_key) = gateway(&server.base, &key, &connector).await;
    let endpoints = [
        Endpoint { label: "direct", url: upstream.url.clone(), key: UPSTREAM_TOKEN.into(), tool: "echo" },
        Endpoint { label: "gateway", url, key: gateway_key, tool: "echo" },
    ];
    let (requests, rounds) = (env_usize("BENCH_REQUESTS", 4000), env_usize("BENCH_ROUNDS", 3));
    let mut table = Vec::new();
    for concurrency in [1, 32] {
        let total = if concurrency == 1 { requests / 2 } else { requests };
        table.push((concurrency, measure(&endpoints, &upstream, concurrency, total, rounds).await));
    }
    print_table(&table);
}

/// Each endpoint's median round and the upstream requests per call it caused; endpoints
/// alternate within each round (on a 2-core machine shared by everything, runs swing).
async fn measure(
    endpoints: &[Endpoint],
    upstream: &McpServer,
    concurrency: usize,
    total: usize,
    rounds: usize,
) -> Vec<(Run, f64)> {
    let mut clients = Vec::new();
    for endpoint in endpoints {
        let s = sessions(endpoint, concurrency).await;
        load(&s, endpoint.tool, 300).await.unwrap_or_else(|e| fail(endpoint.label, &e)); // warm-up
        clients.push(s);
    }
    let mut rows: Vec<(Vec<Run>, usize)> = endpoints.iter().map(|_| (Vec::new(), 0)).collect();
    for _ in 0..rounds {
        for (i, endpoint) in endpoints.iter().enumerate() {
            let seen = upstream.seen().len();
            let run =
                load(&clients[i], endpoint.tool, total).await.unwrap_or_else(|e| fail(endpoint.label, &e));
            rows[i].0.push(run);
            rows[i].1 += upstream.seen().len() - seen;
        }
    }
    let calls = (rounds * (total / concurrency) * concurrency) as f64; // what `load` sends
    rows.into_iter().map(|(runs, seen)| (median(runs), seen as f64 / calls)).collect()
}

fn print_table(table: &[(usize, Vec<(Run, f64)>)]) {
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    println!();
    println!("| | c | req/s | ratio | p50 | p99 | p50 over | upstream req/call |");
    println!("|---|---|---|---|---|---|---|---|");
    for (concurrency, rows) in table {
        let direct = &rows[0].0;
        for ((run, per_call), label) in rows.iter().zip(["direct", "gateway"]) {
            println!(
                "| {label} | {concurrency} | {:.0} | {:.2} | {:.0} µs | {:.0} µs | {:+.0} µs | {per_call:.2} |",
                run.rps,
                run.rps / direct.rps,
                us(run.p50),
                us(run.p99),
                us(run.p50) - us(direct.p50),
            );
        }
    }
}
