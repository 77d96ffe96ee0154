//! Proxy overhead, side by side in one run: an rmcp echo server called directly and through
//! the real `switchboard` binary (a separate process, so its RSS is its own), `tools/call`
//! at concurrency 1 and 32; then 10,000 idle legacy-SSE streams held open through it.
//!
//! Run: `cargo bench --bench proxy`. 10,000 streams need ~20,000 sockets in the proxy and as
//! many here: raise the open-files limit (`ulimit -n 65536`) where allowed; otherwise the
//! bench opens as many as the limit permits and says so. Needs PostgreSQL at DATABASE_URL.
//! `BENCH_REQUESTS`, `BENCH_ROUNDS` and `BENCH_STREAMS` change the sizes; `BENCH_PAUSE_SECS` pauses before
//! the streams open, to attach a profiler to the printed proxy pid.

#[path = "../tests/support/mod.rs"]
#[allow(unused_imports)]
mod support;

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sqlx::migrate::MigrateDatabase as _;
use support::legacy_sse::LegacySseServer;
use support::mcp_server::{Guard, McpServer};
use support::raw_mcp::{RawMcp, response_to};

fn open_files_limit() -> usize {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|soft| soft.parse().ok())
        .unwrap_or(1024)
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

struct Proxy {
    child: Child,
    base: String,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proxy {
    /// User + system CPU time the proxy process has used, in seconds.
    fn cpu_seconds(&self) -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap();
        // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
        let fields: Vec<&str> = stat.rsplit_once(')').unwrap().1.split_whitespace().collect();
        let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
        // /proc counts in USER_HZ, which the kernel ABI fixes at 100 on Linux.
        ticks / 100.0
    }

    fn rss_mib(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let kib: f64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap();
        kib / 1024.0
    }
}

async fn start_proxy(database_url: &str, keys: &str) -> Proxy {
    let port = support::node::free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .env("DATABASE_URL", database_url)
        .env("SWITCHBOARD_LISTEN", format!("127.0.0.1:{port}"))
        .env("SWITCHBOARD_ALLOW_PRIVATE_NETWORKS", "true")
        .env("SWITCHBOARD_WORKER", "false")
        .env("SWITCHBOARD_ENCRYPTION_KEYS", keys)
        // The benchmark measures the proxy, not the limiter: no rate limit, no stream cap.
        .env("SWITCHBOARD_RATE_LIMIT_PROXY_RPS", "0")
        .env("SWITCHBOARD_PROXY_MAX_STREAMS_PER_TENANT", "0")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let proxy = Proxy { child, base: format!("http://127.0.0.1:{port}") };
    let deadline = Instant::now() + Duration::from_secs(30);
    while reqwest::get(format!("{}/readyz", proxy.base)).await.is_err() {
        assert!(Instant::now() < deadline, "switchboard did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    proxy
}

fn api_key(database_url: &str, keys: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["tenants", "create", "bench", "--json"])
        .env("DATABASE_URL", database_url)
        .env("SWITCHBOARD_ENCRYPTION_KEYS", keys)
        .output()
        .unwrap();
    let created: Value = serde_json::from_slice(&out.stdout).unwrap();
    created["api_key"].as_str().unwrap().to_owned()
}

async fn post(url: String, key: &str, body: &Value) -> Value {
    let client = reqwest::Client::new();
    client.post(url).bearer_auth(key).json(body).send().await.unwrap().json().await.unwrap()
}

async fn connector(proxy: &Proxy, key: &str, body: Value) -> String {
    let created = post(format!("{}/api/v1/connectors", proxy.base), key, &body).await;
    let id = created["id"].as_str().unwrap().to_owned();
    let connected = post(format!("{}/api/v1/connectors/{id}/connect", proxy.base), key, &json!({})).await;
    assert_eq!(connected["status"], "connected", "{connected}");
    id
}

struct Run {
    rps: f64,
    p50: Duration,
    p99: Duration,
}

/// `total` echo calls spread over `concurrency` workers sharing one session.
async fn load(mcp: Arc<RawMcp>, concurrency: usize, total: usize) -> Run {
    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for w in 0..concurrency {
        let mcp = mcp.clone();
        workers.spawn(async move {
            let mut latencies = Vec::with_capacity(total / concurrency);
            for i in 0..total / concurrency {
                let id = (w * total + i) as i64 + 10;
                let sent = Instant::now();
                let res = mcp
                    .post(json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
                                 "params": {"name": "echo", "arguments": {"message": "ping"}}}))
                    .await;
                let answer = response_to(res, id).await;
                latencies.push(sent.elapsed());
                assert_eq!(answer["result"]["content"][0]["text"], "ping");
            }
            latencies
        });
    }
    let mut all: Vec<Duration> = workers.join_all().await.into_iter().flatten().collect();
    let elapsed = started.elapsed();
    all.sort();
    let at = |q: f64| all[((all.len() as f64 * q) as usize).min(all.len() - 1)];
    Run { rps: all.len() as f64 / elapsed.as_secs_f64(), p50: at(0.50), p99: at(0.99) }
}

/// The round with the median throughput.
fn median(mut runs: Vec<Run>) -> Run {
    runs.sort_by(|a, b| a.rps.total_cmp(&b.rps));
    runs.swap_remove(runs.len() / 2)
}

async fn session(url: &str, key: &str) -> Arc<RawMcp> {
    let mut mcp = RawMcp::new(url, key);
    mcp.initialize().await;
    Arc::new(mcp)
}

/// Opens `count` legacy SSE streams through the proxy and waits for each one's first event.
async fn open_streams(proxy: &Proxy, key: &str, id: &str, count: usize) -> Vec<reqwest::Response> {
    let client = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();
    let url = format!("{}/api/v1/connectors/{id}/sse", proxy.base);
    let mut streams = Vec::with_capacity(count);
    for batch in 0..count.div_ceil(500) {
        let mut opening = tokio::task::JoinSet::new();
        for _ in 0..500.min(count - batch * 500) {
            let (client, url, key) = (client.clone(), url.clone(), key.to_owned());
            opening.spawn(async move {
                let mut res = client.get(url).bearer_auth(key).send().await.unwrap();
                assert_eq!(res.status(), 200);
                let first = res.chunk().await.unwrap().unwrap();
                assert!(first.starts_with(b"event: endpoint"));
                res
            });
        }
        streams.extend(opening.join_all().await);
    }
    streams
}

fn row(label: &str, run: &Run) {
    println!(
        "{label:<28} {:>9.0} req/s   p50 {:>7.0} µs   p99 {:>7.0} µs",
        run.rps,
        run.p50.as_secs_f64() * 1e6,
        run.p99.as_secs_f64() * 1e6
    );
}

#[tokio::main]
async fn main() {
    let requests = env_usize("BENCH_REQUESTS", 4000);
    // Each HTTP/1.1 stream costs the proxy two sockets (caller side, upstream side) and this
    // process two as well: stay under the open-files limit.
    let limit = open_files_limit();
    let streams = env_usize("BENCH_STREAMS", 10_000).min(limit.saturating_sub(1000) / 2);
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
    let proxy = start_proxy(&database_url, &keys).await;
    let key = api_key(&database_url, &keys);
    let id = connector(
        &proxy,
        &key,
        json!({"url": upstream.url, "auth": {"mode": "bearer", "token": "upstream"}, "discover": false}),
    )
    .await;
    let proxied_url = format!("{}/api/v1/connectors/{id}/mcp", proxy.base);

    let direct = session(&upstream.url, "upstream").await;
    let proxied = session(&proxied_url, &key).await;
    load(direct.clone(), 1, 300).await; // warm up both paths
    load(proxied.clone(), 1, 300).await;
    println!("proxy RSS after warm-up: {:.1} MiB", proxy.rss_mib());

    // Direct and proxied runs alternate, several rounds, and the median round is reported:
    // on a 2-core machine shared by the load generator, the upstream and the proxy, single
    // runs swing with whatever else is scheduled.
    let rounds = env_usize("BENCH_ROUNDS", 3);
    let mut results = Vec::new();
    for concurrency in [1, 32] {
        let total = if concurrency == 1 { requests / 2 } else { requests };
        let (mut direct_runs, mut proxied_runs, mut cpu) = (Vec::new(), Vec::new(), 0.0);
        for _ in 0..rounds {
            direct_runs.push(load(direct.clone(), concurrency, total).await);
            let before = proxy.cpu_seconds();
            proxied_runs.push(load(proxied.clone(), concurrency, total).await);
            cpu += proxy.cpu_seconds() - before;
        }
        let (d, p) = (median(direct_runs), median(proxied_runs));
        row(&format!("direct,  concurrency {concurrency}"), &d);
        row(&format!("proxied, concurrency {concurrency}"), &p);
        println!(
            "proxy CPU per request at concurrency {concurrency}: {:.0} µs",
            cpu / (rounds * total) as f64 * 1e6
        );
        results.push((concurrency, d, p));
    }
    let (_, d1, p1) = &results[0];
    let (_, d32, p32) = &results[1];
    println!("p50 overhead at concurrency 1: {:.0} µs", (p1.p50.as_secs_f64() - d1.p50.as_secs_f64()) * 1e6);
    println!("proxied/direct throughput at concurrency 32: {:.0}%", p32.rps / d32.rps * 100.0);
    println!("proxy RSS after load: {:.1} MiB", proxy.rss_mib());

    let legacy = LegacySseServer::spawn(Some("Bearer legacy"), None).await;
    let sse_id = connector(&proxy, &key, json!({"url": legacy.url, "transport": "sse", "auth": {"mode": "bearer", "token": "legacy"}, "discover": false})).await;
    if let Some(pause) = std::env::var("BENCH_PAUSE_SECS").ok().and_then(|v| v.parse().ok()) {
        // Time to attach a profiler (e.g. `heaptrack -p PID`) before the streams open.
        println!("proxy pid {}; pausing {pause} s", proxy.child.id());
        tokio::time::sleep(Duration::from_secs(pause)).await;
    }
    let before = proxy.rss_mib();
    let opened = Instant::now();
    let held = open_streams(&proxy, &key, &sse_id, streams).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = proxy.rss_mib();
    println!(
        "{} idle SSE streams open through the proxy (opened in {:.1} s; open-files limit {limit}): RSS {after:.1} MiB (was {before:.1} MiB, {:.1} KiB per stream)",
        held.len(),
        opened.elapsed().as_secs_f64(),
        (after - before) * 1024.0 / held.len() as f64,
    );
    drop(held);
}
