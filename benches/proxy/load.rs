//! Load: `tools/call` echo requests from concurrent clients, each with its own MCP session;
//! latencies, throughput, and every failure (a run with one measures nothing).

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::raw_mcp::{RawMcp, response_to};

/// One MCP endpoint under test.
pub struct Endpoint {
    pub label: &'static str,
    pub url: String,
    pub key: String,
    /// The echo tool's name there (an aggregating proxy prefixes it).
    pub tool: &'static str,
}

pub struct Run {
    pub rps: f64,
    pub p50: Duration,
    pub p99: Duration,
}

/// `clients` initialized sessions on `endpoint`.
pub async fn sessions(endpoint: &Endpoint, clients: usize) -> Vec<Arc<RawMcp>> {
    let mut out = Vec::with_capacity(clients);
    for _ in 0..clients {
        let mut mcp = RawMcp::new(&endpoint.url, &endpoint.key);
        mcp.initialize().await;
        out.push(Arc::new(mcp));
    }
    out
}

/// One echo call; the error says what came back instead of the echo.
async fn call(mcp: &RawMcp, tool: &str, id: i64) -> Result<(), String> {
    let message = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
                         "params": {"name": tool, "arguments": {"message": "ping"}}});
    let res = mcp.request(reqwest::Method::POST).json(&message).send().await.map_err(|e| e.to_string())?;
    let status = res.status();
    if status != 200 {
        let body = res.text().await.unwrap_or_default();
        return Err(format!("HTTP {status}: {}", body.chars().take(200).collect::<String>()));
    }
    let answer: Value = response_to(res, id).await;
    match answer["result"]["content"][0]["text"].as_str() {
        Some("ping") => Ok(()),
        _ => Err(format!("not the echo: {}", answer.to_string().chars().take(200).collect::<String>())),
    }
}

/// `total` calls spread over the sessions, one worker each.
pub async fn load(sessions: &[Arc<RawMcp>], tool: &'static str, total: usize) -> Result<Run, Vec<String>> {
    let started = Instant::now();
    let per_worker = total / sessions.len();
    let mut workers = tokio::task::JoinSet::new();
    for (w, mcp) in sessions.iter().enumerate() {
        let mcp = mcp.clone();
        workers.spawn(async move {
            let (mut latencies, mut errors) = (Vec::with_capacity(per_worker), Vec::new());
            for i in 0..per_worker {
                let sent = Instant::now();
                match call(&mcp, tool, (w * per_worker + i) as i64 + 10).await {
                    Ok(()) => latencies.push(sent.elapsed()),
                    Err(e) => errors.push(e),
                }
            }
            (latencies, errors)
        });
    }
    let (mut all, mut errors) = (Vec::with_capacity(total), Vec::new());
    for (latencies, failed) in workers.join_all().await {
        all.extend(latencies);
        errors.extend(failed);
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let elapsed = started.elapsed();
    all.sort();
    let at = |q: f64| all[((all.len() as f64 * q) as usize).min(all.len() - 1)];
    Ok(Run { rps: all.len() as f64 / elapsed.as_secs_f64(), p50: at(0.50), p99: at(0.99) })
}

/// The round with the median throughput.
pub fn median(mut runs: Vec<Run>) -> Run {
    runs.sort_by(|a, b| a.rps.total_cmp(&b.rps));
    runs.swap_remove(runs.len() / 2)
}

/// Prints what failed (a count per distinct error) and stops the benchmark.
pub fn fail(label: &str, errors: &[String]) -> ! {
    let mut counted: Vec<(String, usize)> = Vec::new();
    for e in errors {
        match counted.iter_mut().find(|(seen, _)| seen == e) {
            Some((_, n)) => *n += 1,
            None => counted.push((e.clone(), 1)),
        }
    }
    eprintln!("{label}: {} request(s) failed; nothing is measured:", errors.len());
    for (e, n) in counted.iter().take(10) {
        eprintln!("  {n} × {e}");
    }
    std::process::exit(1);
}
