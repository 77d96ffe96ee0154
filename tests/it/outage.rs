//! A database outage, for real: the app runs against a Postgres of the test's own, which is
//! stopped and started again under a bounded proxy and API load. Nothing may answer 500 (503
//! `database_unavailable` is the answer while it is down), warm proxy calls keep working from
//! the caches, and nothing written before is lost.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};
use switchboard::config::Rate;
use switchboard::connectors::Presets;
use switchboard::http::AppState;

use super::gateway::{add_tool, call_statuses, create_gateway, issue_key, setup};
use crate::support::mcp_server::{Guard, McpServer};
use crate::support::private_pg::PrivatePostgres;
use crate::support::raw_mcp::{RawMcp, response_to};
use crate::support::{TestApp, expect_json, test_keyring, test_settings};

/// Concurrent proxy callers, and a bound on each one's requests.
const PROXY_WORKERS: usize = 3;
const MAX_REQUESTS_PER_WORKER: usize = 4000;
/// How long Postgres stays down.
const OUTAGE: Duration = Duration::from_secs(4);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Proxy,
    Api,
}

#[derive(Debug)]
struct Outcome {
    kind: Kind,
    sent: Instant,
    /// HTTP status, or 0 when the request failed without an answer.
    status: u16,
    code: Option<String>,
    retry_after: bool,
}

async fn proxy_call(mcp: &RawMcp, id: i64) -> (u16, Option<String>) {
    let res = mcp
        .post(json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
                              "params": {"name": "echo", "arguments": {"message": "hi"}}}))
        .await;
    let status = res.status().as_u16();
    if status != 200 {
        return (status, res.json::<Value>().await.ok().and_then(|p| p["code"].as_str().map(str::to_owned)));
    }
    let answer = response_to(res, id).await;
    let ok = answer["result"]["content"][0]["text"] == "hi";
    (if ok { 200 } else { 0 }, None)
}

/// Calls until `stop` (or the bound), recording every answer.
async fn load(
    kind: Kind,
    app: Arc<TestApp>,
    mcp: Option<Arc<RawMcp>>,
    key: String,
    stop: Arc<AtomicBool>,
) -> Vec<Outcome> {
    let mut outcomes = Vec::new();
    let client = reqwest::Client::builder().timeout(Duration::from_secs(20)).build().unwrap();
    for i in 0..MAX_REQUESTS_PER_WORKER {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let sent = Instant::now();
        let (status, code, retry_after) = match (&kind, &mcp) {
            (Kind::Proxy, Some(mcp)) => {
                let (status, code) = proxy_call(mcp, i as i64 + 10).await;
                (status, code, false)
            }
            _ => match client.get(app.url("/api/v1/connectors")).bearer_auth(&key).send().await {
                Ok(res) => {
                    let status = res.status().as_u16();
                    let retry_after = res.headers().contains_key("retry-after");
                    let body: Value = res.json().await.unwrap_or(Value::Null);
                    (status, body["code"].as_str().map(str::to_owned), retry_after)
                }
                Err(_) => (0, None, false),
            },
        };
        outcomes.push(Outcome { kind, sent, status, code, retry_after });
        if kind == Kind::Api {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    outcomes
}

/// Retries a write while the database is unavailable (what a client told `Retry-After` does).
async fn create_after_outage(app: &TestApp, key: &str, url: &str) -> Value {
    for _ in 0..20 {
        let res = app
            .request(Method::POST, "/api/v1/connectors", Some(key))
            .json(&json!({"url": url, "name": "after", "discover": false}))
            .send()
            .await
            .unwrap();
        match res.status().as_u16() {
            201 => return res.json().await.unwrap(),
            503 => tokio::time::sleep(Duration::from_millis(500)).await,
            other => panic!("a write after the outage answered {other}: {}", res.text().await.unwrap()),
        }
    }
    panic!("writes did not work again after the outage");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_postgres_restart_under_proxy_load_loses_nothing_and_keeps_warm_calls_working() {
    // A 500 here once went unexplained: the app's errors go to the test's output, shown when
    // it fails (the first test of the binary to ask wins; errors only).
    let _ = tracing_subscriber::fmt().with_env_filter("error").with_test_writer().try_init();
    let pg = PrivatePostgres::start();
    let pool = switchboard::platform::db::connect_and_migrate(&pg.url("switchboard"), 16).await.unwrap();
    let mut settings = test_settings();
    // The load is bounded by its own worker count; rate limits (still consulted) admit it all.
    settings.limits.api = Rate { per_second: 0, burst: 0 };
    settings.limits.proxy = Rate { per_second: 0, burst: 0 };
    let state = AppState::new(pool, test_keyring("test"), Presets::builtin(), settings);
    let app = Arc::new(TestApp::spawn_with(state).await);
    let t = app.tenant("a").await;
    let upstream = McpServer::spawn(Guard::Authorization("Bearer upstream-token".into())).await;
    let c = app
        .create_connector(
            &t.key,
            json!({"url": upstream.url, "auth": {"mode": "bearer", "token": "upstream-token"}}),
        )
        .await;
    let id = c["id"].as_str().unwrap().to_owned();
    let res = app.post_json(&format!("/api/v1/connectors/{id}/connect"), &t.key, json!({})).await;
    assert_eq!(expect_json(res, 200).await["status"], "connected");
    let before = app.create_connector(&t.key, json!({"url": "https://before.example/mcp"})).await;

    // Warm: a session per worker, one call each (key, target and rate limits are now cached).
    let mut sessions = Vec::new();
    for _ in 0..PROXY_WORKERS {
        let mut mcp = RawMcp::new(&app.url(&format!("/api/v1/connectors/{id}/mcp")), &t.key);
        mcp.client = reqwest::Client::builder().timeout(Duration::from_secs(20)).build().unwrap();
        mcp.initialize().await;
        assert_eq!(proxy_call(&mcp, 1).await.0, 200);
        sessions.push(Arc::new(mcp));
    }
    // Let the tenant's cached rate-limit overrides come due during the outage.
    tokio::time::sleep(Duration::from_secs(8)).await;

    let stop = Arc::new(AtomicBool::new(false));
    let mut workers: Vec<_> = sessions
        .iter()
        .map(|mcp| {
            tokio::spawn(load(Kind::Proxy, app.clone(), Some(mcp.clone()), t.key.clone(), stop.clone()))
        })
        .collect();
    workers.push(tokio::spawn(load(Kind::Api, app.clone(), None, t.key.clone(), stop.clone())));
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let down = Instant::now();
    tokio::task::block_in_place(|| pg.stop());
    tokio::time::sleep(OUTAGE).await;
    tokio::task::block_in_place(|| pg.start_server());
    let up = Instant::now();
    let deadline = up + Duration::from_secs(30);
    while !app.state.caches.is_live() {
        assert!(Instant::now() < deadline, "the invalidation listener never reconnected");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let reconnected = Instant::now();
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.store(true, Ordering::Relaxed);
    let mut outcomes = Vec::new();
    for w in workers {
        outcomes.extend(w.await.unwrap());
    }

    let during = |o: &&Outcome| o.sent >= down && o.sent < up;
    let proxy_during: Vec<&Outcome> =
        outcomes.iter().filter(|o| o.kind == Kind::Proxy).filter(during).collect();
    let api_during: Vec<&Outcome> = outcomes.iter().filter(|o| o.kind == Kind::Api).filter(during).collect();
    let unavailable: Vec<&Outcome> = outcomes.iter().filter(|o| o.status == 503).collect();
    eprintln!(
        "outage {:?} (listener back {:?} after start): {} requests in all, {} while down ({} proxy: {} answered 200; {} API); {} answered 503",
        up - down,
        reconnected - up,
        outcomes.len(),
        proxy_during.len() + api_during.len(),
        proxy_during.len(),
        proxy_during.iter().filter(|o| o.status == 200).count(),
        api_during.len(),
        unavailable.len(),
    );
    let bad: Vec<&Outcome> = outcomes.iter().filter(|o| ![200, 503].contains(&o.status)).collect();
    assert!(bad.is_empty(), "only 200 and 503 are acceptable answers: {bad:?}");
    for o in &unavailable {
        assert_eq!(o.code.as_deref(), Some("database_unavailable"), "{o:?}");
        assert!(o.kind == Kind::Proxy || o.retry_after, "{o:?}");
    }
    assert!(proxy_during.len() >= 20, "the proxy load ran through the outage: {}", proxy_during.len());
    assert!(
        proxy_during.iter().all(|o| o.status == 200),
        "warm proxy calls kept working while Postgres was down"
    );
    assert!(
        api_during.iter().any(|o| o.status == 503),
        "API calls that need the database said it was unavailable"
    );
    let settled = reconnected + Duration::from_secs(1);
    let late: Vec<&Outcome> = outcomes.iter().filter(|o| o.sent >= settled && o.status != 200).collect();
    assert!(late.is_empty(), "everything works again once the listener is back: {late:?}");

    // Nothing lost: what was written before is there, and new writes work.
    let after = create_after_outage(&app, &t.key, "https://after.example/mcp").await;
    let list = app.get_json("/api/v1/connectors?limit=200", &t.key).await;
    let ids: Vec<&str> =
        list["items"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
    for c in [&c, &before, &after] {
        assert!(ids.contains(&c["id"].as_str().unwrap()), "{c} is still there: {ids:?}");
    }
    let mut fresh = RawMcp::new(&app.url(&format!("/api/v1/connectors/{id}/mcp")), &t.key);
    fresh.initialize().await;
    assert_eq!(proxy_call(&fresh, 1).await.0, 200, "a new session works after the outage");
}

/// A gateway call made while Postgres is down is answered from this replica's caches, and
/// its log row, which the call log's writer keeps while the database is unreachable, is
/// there once Postgres is back (decision 0071).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_call_made_while_postgres_is_down_is_logged_once_it_is_back() {
    let pg = PrivatePostgres::start();
    let pool = switchboard::platform::db::connect_and_migrate(&pg.url("switchboard"), 4).await.unwrap();
    let state = AppState::new(pool, test_keyring("test"), Presets::builtin(), test_settings());
    let app = TestApp::spawn_with(state).await;
    let (t, _upstream, connector) = setup(&app, "a").await;
    let gid = create_gateway(&app, &t.key, "team").await["id"].as_str().unwrap().to_owned();
    let tool = json!({"connector_id": connector, "tool": "echo", "alias": "say"});
    expect_json(add_tool(&app, &t.key, &gid, tool).await, 201).await;
    let key = issue_key(&app, &t.key, &gid, json!({})).await["api_key"].as_str().unwrap().to_owned();
    let mut mcp = RawMcp::new(&app.url("/api/v1/gateways/team/mcp"), &key);
    mcp.initialize().await;
    let say = |text: &str| json!({"name": "say", "arguments": {"message": text}});
    let warm = mcp.call(1, "tools/call", say("before")).await;
    assert_eq!(warm["result"]["structuredContent"]["message"], "before", "{warm}");

    tokio::task::block_in_place(|| pg.stop());
    let during = mcp.call(2, "tools/call", say("during")).await;
    assert_eq!(
        during["result"]["structuredContent"]["message"], "during",
        "answered from the caches: {during}"
    );
    tokio::time::sleep(Duration::from_millis(500)).await; // the writer retries meanwhile
    tokio::task::block_in_place(|| pg.start_server());

    // The writer retries with a backoff (up to 5 s): read until both rows are there.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let res =
            app.request(Method::GET, &format!("/api/v1/gateways/{gid}/logs"), Some(&t.key)).send().await;
        let res = res.unwrap();
        let logs =
            if res.status() == 200 { res.json::<Value>().await.unwrap() } else { json!({"items": []}) };
        if call_statuses(&logs) == [("say", "success"), ("say", "success")] {
            break;
        }
        assert!(Instant::now() < deadline, "both calls are logged: {logs}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
