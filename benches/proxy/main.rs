//! Proxy overhead, side by side in one run: an rmcp echo server called directly, through
//! the real `switchboard` binary, and through the peer `mcp-proxy` 0.6.0 (crates.io), each
//! proxy in its own process. Modes (`cargo bench --bench proxy -- MODE`):
//! - `throughput` (the default): `tools/call` at concurrency 1 and 32, each client its own
//!   session; one table with throughput, its ratio to direct, p50/p99 overhead, and the
//!   requests the upstream saw per call. Any failed request (a 429 included) is printed and
//!   nothing is measured. The peer is installed into `target/peers` when missing (not in CI).
//! - `streams`: RSS per idle standalone stream (`GET …/mcp`) and per idle legacy SSE stream,
//!   at 1,000 and 5,000 streams (`BENCH_STREAMS=a,b` to change), each kind in a fresh process.
//! - `callgrind`: switchboard under `valgrind --tool=callgrind`; instructions per proxied
//!   call at concurrency 1 and 32 (repeatable on a loaded machine, unlike wall-clock time).
//!
//! Needs PostgreSQL at DATABASE_URL. `BENCH_REQUESTS` and `BENCH_ROUNDS` change the sizes,
//! `BENCH_LOG` switchboard's log filter, `BENCH_SWITCHBOARD` the binary (an earlier build).

#[path = "../../tests/support/mod.rs"]
#[allow(unused_imports)]
mod support;

mod callgrind;
mod load;
mod procs;
mod streams;

use serde_json::json;
use sqlx::migrate::MigrateDatabase as _;
use support::mcp_server::{Guard, McpServer};

use load::{Endpoint, Run, fail, load, median, sessions};
use procs::Proc;

/// Switchboard's log filter: the production default unless `BENCH_LOG` says otherwise (its
/// request log is part of what a request costs).
pub fn log_filter() -> String {
    std::env::var("BENCH_LOG").unwrap_or_else(|_| switchboard::config::DEFAULT_LOG_FILTER.into())
}

pub fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// What every mode needs: a fresh database, a keyring, an echo upstream.
pub struct Setup {
    pub database_url: String,
    pub keys: String,
    pub upstream: McpServer,
}

impl Setup {
    async fn new() -> Self {
        let base = std::env::var("DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/switchboard".into());
        let mut url = url::Url::parse(&base).unwrap();
        url.set_path("switchboard_bench_proxy");
        let database_url = url.to_string();
        if sqlx::Postgres::database_exists(&database_url).await.unwrap() {
            sqlx::Postgres::drop_database(&database_url).await.unwrap();
        }
        let keys = switchboard::platform::crypto::Keyring::generate_entry("bench");
        let upstream = McpServer::spawn(Guard::Authorization("Bearer upstream".into())).await;
        Self { database_url, keys, upstream }
    }

    /// Switchboard (logging at `log`, under `wrap`) with a tenant and a connector to the
    /// upstream; returns the process, the API key and the proxied MCP URL.
    pub async fn switchboard(&self, log: &str, wrap: &[&str]) -> (Proc, String, String) {
        let proxy = procs::switchboard(&self.database_url, &self.keys, log, wrap).await;
        let key = procs::api_key(&self.database_url, &self.keys);
        let auth = json!({"mode": "bearer", "token": "upstream"});
        let body = json!({"url": self.upstream.url, "auth": auth, "discover": false});
        let id = procs::connector(&proxy, &key, body).await;
        let url = format!("{}/api/v1/connectors/{id}/mcp", proxy.base);
        (proxy, key, url)
    }
}

#[tokio::main]
async fn main() {
    let mode = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let setup = Setup::new().await;
    match mode.as_deref().unwrap_or("throughput") {
        "throughput" => throughput(&setup).await,
        "streams" => streams::run(&setup).await,
        "callgrind" => callgrind::run(&setup).await,
        other => panic!("unknown mode {other}: throughput, streams or callgrind"),
    }
}

/// One endpoint's results at one concurrency.
struct Row {
    run: Run,
    upstream_per_call: f64,
    cpu_per_call: Option<f64>,
}

async fn throughput(setup: &Setup) {
    let (proxy, key, proxied_url) = setup.switchboard(&log_filter(), &[]).await;
    let peer = match procs::peer_binary() {
        Some(binary) => Some(procs::peer(&binary, &setup.upstream.url, "upstream").await),
        None => None,
    };
    let mut endpoints = vec![
        (
            Endpoint {
                label: "direct",
                url: setup.upstream.url.clone(),
                key: "upstream".into(),
                tool: "echo",
            },
            None,
        ),
        (Endpoint { label: "Switchboard", url: proxied_url, key, tool: "echo" }, Some(&proxy)),
    ];
    if let Some(peer) = &peer {
        let url = format!("{}/", peer.base);
        let label = "mcp-proxy 0.6.0";
        endpoints.push((Endpoint { label, url, key: "none".into(), tool: "bench/echo" }, Some(peer)));
    }
    let (requests, rounds) = (env_usize("BENCH_REQUESTS", 4000), env_usize("BENCH_ROUNDS", 3));
    let mut table = Vec::new();
    for concurrency in [1, 32] {
        let total = if concurrency == 1 { requests / 2 } else { requests };
        let mut clients = Vec::new();
        for (endpoint, _) in &endpoints {
            let s = sessions(endpoint, concurrency).await;
            load(&s, endpoint.tool, 300).await.unwrap_or_else(|e| fail(endpoint.label, &e)); // warm-up
            clients.push(s);
        }
        let mut rows: Vec<(Vec<Run>, usize, f64)> = endpoints.iter().map(|_| (Vec::new(), 0, 0.0)).collect();
        // Endpoints alternate within each round and the median round is reported: on a
        // 2-core machine shared by the load, the upstream and the proxy, runs swing.
        for _ in 0..rounds {
            for (i, (endpoint, process)) in endpoints.iter().enumerate() {
                let (seen, cpu) = (setup.upstream.seen().len(), process.map(|p| p.cpu_seconds()));
                let run = load(&clients[i], endpoint.tool, total)
                    .await
                    .unwrap_or_else(|e| fail(endpoint.label, &e));
                rows[i].0.push(run);
                rows[i].1 += setup.upstream.seen().len() - seen;
                rows[i].2 += process.map_or(0.0, |p| p.cpu_seconds()) - cpu.unwrap_or(0.0);
            }
        }
        let calls = (rounds * (total / concurrency) * concurrency) as f64; // what `load` sends
        table.push(
            rows.into_iter()
                .zip(&endpoints)
                .map(|((runs, seen, cpu), (_, process))| Row {
                    run: median(runs),
                    upstream_per_call: seen as f64 / calls,
                    cpu_per_call: process.map(|_| cpu / calls * 1e6),
                })
                .collect::<Vec<_>>(),
        );
    }
    print_table(&endpoints.iter().map(|(e, _)| e.label).collect::<Vec<_>>(), &table);
    println!("Switchboard RSS after load: {:.1} MiB", proxy.rss_mib());
}

fn print_table(labels: &[&str], table: &[Vec<Row>]) {
    println!();
    println!(
        "| | c=1 req/s | ratio | p50 | p50 over | p99 over | c=32 req/s | ratio | p50 over | p99 over | upstream req/call | proxy CPU µs/call (c=1, c=32) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    let us = |d: std::time::Duration| d.as_secs_f64() * 1e6;
    for (i, label) in labels.iter().enumerate() {
        let mut line = format!("| {label} ");
        for (c, rows) in table.iter().enumerate() {
            let (direct, row) = (&rows[0].run, &rows[i].run);
            line += &format!("| {:.0} | {:.2} ", row.rps, row.rps / direct.rps);
            if c == 0 {
                line += &format!("| {:.0} µs ", us(row.p50));
            }
            line += &format!(
                "| {:+.0} µs | {:+.0} µs ",
                us(row.p50) - us(direct.p50),
                us(row.p99) - us(direct.p99)
            );
        }
        let cpu: Vec<String> =
            table.iter().map(|rows| rows[i].cpu_per_call.map_or("-".into(), |c| format!("{c:.0}"))).collect();
        let per_call: Vec<String> =
            table.iter().map(|rows| format!("{:.2}", rows[i].upstream_per_call)).collect();
        println!("{line}| {} | {} |", per_call.join(" / "), cpu.join(" / "));
    }
}
