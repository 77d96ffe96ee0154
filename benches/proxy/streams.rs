//! Idle streams: RSS per idle standalone stream (`GET …/mcp`, one session each) and per
//! idle legacy SSE stream, through a fresh switchboard process per kind, at 1,000 and 5,000
//! streams (`BENCH_STREAMS=1000,5000`). Each stream costs the proxy two sockets (caller
//! side, upstream side) and this process two as well: counts stay under the open-files limit.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::Setup;
use crate::procs::{self, Proc};
use crate::support::legacy_sse::LegacySseServer;
use crate::support::raw_mcp::RawMcp;

fn open_files_limit() -> usize {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|soft| soft.parse().ok())
        .unwrap_or(1024)
}

fn counts() -> Vec<usize> {
    let max = open_files_limit().saturating_sub(2000) / 2;
    let spec = std::env::var("BENCH_STREAMS").unwrap_or_else(|_| "1000,5000".into());
    let mut counts: Vec<usize> = spec.split(',').filter_map(|c| c.trim().parse().ok()).collect();
    if counts.iter().any(|&c| c > max) {
        println!("open-files limit {}: at most {max} streams", open_files_limit());
        counts.iter_mut().for_each(|c| *c = (*c).min(max));
    }
    counts
}

pub async fn run(setup: &Setup) {
    let counts = counts();
    let client = reqwest::Client::new();
    {
        let (proxy, key, url) = setup.switchboard(&crate::log_filter(), &[]).await;
        let open = |n: usize| standalone(&client, &url, &key, n);
        measure("standalone GET /mcp", &proxy, &counts, open).await;
    }
    let legacy = LegacySseServer::spawn(Some("Bearer legacy"), None).await;
    let (proxy, key, _) = setup.switchboard(&crate::log_filter(), &[]).await;
    let auth = json!({"mode": "bearer", "token": "legacy"});
    let body = json!({"url": legacy.url, "transport": "sse", "auth": auth, "discover": false});
    let id = procs::connector(&proxy, &key, body).await;
    let url = format!("{}/api/v1/connectors/{id}/sse", proxy.base);
    measure("legacy SSE", &proxy, &counts, |n| legacy_streams(&client, &url, &key, n)).await;
}

/// Opens streams up to each count and prints the RSS they added.
async fn measure<F, Fut>(kind: &str, proxy: &Proc, counts: &[usize], open: F)
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = Vec<reqwest::Response>>,
{
    drop(open(20).await); // warm-up: the first streams allocate what every later one reuses
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = proxy.rss_mib();
    let mut held = Vec::new();
    for &count in counts {
        let started = Instant::now();
        held.extend(open(count - held.len()).await);
        tokio::time::sleep(Duration::from_secs(1)).await;
        let after = proxy.rss_mib();
        println!(
            "{kind}: {count} idle streams (opened in {:.1} s): RSS {after:.1} MiB (was {before:.1}), {:.1} KiB per stream, {:.0} MiB at 10k",
            started.elapsed().as_secs_f64(),
            (after - before) * 1024.0 / count as f64,
            before + (after - before) / count as f64 * 10_000.0,
        );
    }
}

/// `n` standalone streams, each on a session of its own.
async fn standalone(client: &reqwest::Client, url: &str, key: &str, n: usize) -> Vec<reqwest::Response> {
    in_batches(n, |_| {
        let mut mcp = RawMcp {
            client: client.clone(),
            url: url.to_owned(),
            key: key.to_owned(),
            session: None,
            protocol_version: None,
        };
        async move {
            mcp.initialize().await;
            let res =
                mcp.request(reqwest::Method::GET).header("accept", "text/event-stream").send().await.unwrap();
            assert_eq!(res.status(), 200, "GET /mcp");
            res
        }
    })
    .await
}

/// `n` legacy SSE streams, each after its first event.
async fn legacy_streams(client: &reqwest::Client, url: &str, key: &str, n: usize) -> Vec<reqwest::Response> {
    in_batches(n, |_| {
        let request = client.get(url).bearer_auth(key).send();
        async move {
            let mut res = request.await.unwrap();
            assert_eq!(res.status(), 200);
            let first = res.chunk().await.unwrap().unwrap();
            assert!(first.starts_with(b"event: endpoint"));
            res
        }
    })
    .await
}

async fn in_batches<F, Fut>(n: usize, open: F) -> Vec<reqwest::Response>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = reqwest::Response> + Send + 'static,
{
    let mut out = Vec::with_capacity(n);
    for start in (0..n).step_by(200) {
        let mut opening = tokio::task::JoinSet::new();
        for i in start..(start + 200).min(n) {
            opening.spawn(open(i));
        }
        out.extend(opening.join_all().await);
    }
    out
}
