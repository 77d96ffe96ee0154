//! Pooled upstream sessions (decision 0065) over real HTTP: gateway and direct tool calls
//! share one upstream session per connector, counted at a real rmcp upstream; a replaced
//! credential and a restarted upstream are followed.

use reqwest::Method;
use serde_json::{Value, json};
use sqlx::PgPool;

use super::gateway::{TOKEN, add_tool, catalog, create_gateway, issue_key};
use crate::support::mcp_server::{Catalog, Guard, McpServer};
use crate::support::raw_mcp::RawMcp;
use crate::support::scripted_mcp::{CHATTY, ScriptedMcp, UPSTREAM_SESSION};
use crate::support::{TestApp, TestTenant, expect_json};

/// A connected bearer connector to an upstream serving `catalog` behind `guard`, and a gateway
/// `team` exposing its `echo` as `say`; with a gateway client, initialized.
struct Setup {
    tenant: TestTenant,
    upstream: McpServer,
    connector: String,
    mcp: RawMcp,
}

async fn setup(app: &TestApp, guard: Guard, catalog: Catalog) -> Setup {
    let tenant = app.tenant("a").await;
    let upstream = McpServer::spawn_catalog(guard, catalog).await;
    let auth = json!({"mode": "bearer", "token": TOKEN});
    let c = app.create_connector(&tenant.key, json!({"url": upstream.url, "auth": auth})).await;
    let connector = c["id"].as_str().unwrap().to_owned();
    let res = app.post_json(&format!("/api/v1/connectors/{connector}/connect"), &tenant.key, json!({})).await;
    assert_eq!(expect_json(res, 200).await["status"], "connected");
    let gid = create_gateway(app, &tenant.key, "team").await["id"].as_str().unwrap().to_owned();
    let body = json!({"connector_id": connector, "tool": "echo", "alias": "say"});
    expect_json(add_tool(app, &tenant.key, &gid, body).await, 201).await;
    let key = issue_key(app, &tenant.key, &gid, json!({})).await["api_key"].as_str().unwrap().to_owned();
    let mut mcp = RawMcp::new(&app.url("/api/v1/gateways/team/mcp"), &key);
    mcp.initialize().await;
    Setup { tenant, upstream, connector, mcp }
}

async fn say(mcp: &RawMcp, id: i64) -> Value {
    let said = mcp.call(id, "tools/call", json!({"name": "say", "arguments": {"message": "hi"}})).await;
    assert_eq!(said["result"]["structuredContent"], json!({"message": "hi"}), "{said}");
    said
}

fn bearer() -> Guard {
    Guard::Authorization(format!("Bearer {TOKEN}"))
}

/// Upstream requests of each kind so far: handshakes (`initialize` in the 2025 era,
/// `server/discover` in the 2026 one), tools/call, DELETE.
fn counts(upstream: &McpServer) -> [usize; 3] {
    let handshakes = upstream.count("POST initialize") + upstream.count("POST server/discover");
    [handshakes, upstream.count("POST tools/call"), upstream.count("DELETE")]
}

fn since(before: [usize; 3], upstream: &McpServer) -> [usize; 3] {
    let now = counts(upstream);
    [now[0] - before[0], now[1] - before[1], now[2] - before[2]]
}

/// Five gateway calls and three direct ones: one handshake, one tools/call each, no DELETE.
async fn sequential_calls_share_a_session(db: PgPool, catalog: Catalog) {
    let app = TestApp::spawn(db).await;
    let s = setup(&app, bearer(), catalog).await;
    // The connect's sync had a session of its own, closed with its DELETE.
    let before = counts(&s.upstream);
    for id in 1..=5 {
        say(&s.mcp, id).await;
    }
    let path = format!("/api/v1/connectors/{}/tools/echo/call", s.connector);
    for _ in 0..3 {
        let res = app.post_json(&path, &s.tenant.key, json!({"arguments": {"message": "direct"}})).await;
        assert_eq!(expect_json(res, 200).await["structuredContent"]["message"], "direct");
    }
    assert_eq!(since(before, &s.upstream), [1, 8, 0], "{:?}", s.upstream.seen_requests.lock().unwrap());
}

#[sqlx::test]
async fn sequential_calls_share_a_2025_era_session(db: PgPool) {
    sequential_calls_share_a_session(db, catalog().legacy_only()).await;
}

#[sqlx::test]
async fn sequential_calls_share_a_2026_era_connection(db: PgPool) {
    sequential_calls_share_a_session(db, catalog()).await;
}

#[sqlx::test]
async fn concurrent_first_calls_open_one_session(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let s = setup(&app, bearer(), catalog().legacy_only()).await;
    let before = counts(&s.upstream);
    let calls = (0..32).map(|id| say(&s.mcp, id + 1));
    futures_util::future::join_all(calls).await;
    assert_eq!(since(before, &s.upstream), [1, 32, 0]);
}

#[sqlx::test]
async fn a_replaced_credential_is_sent_with_the_next_call(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let s = setup(&app, Guard::Open, catalog().legacy_only()).await;
    say(&s.mcp, 1).await;
    let res = app
        .request(Method::PATCH, &format!("/api/v1/connectors/{}", s.connector), Some(&s.tenant.key))
        .json(&json!({"auth": {"mode": "bearer", "token": "replaced"}}))
        .send()
        .await
        .unwrap();
    expect_json(res, 200).await;
    say(&s.mcp, 2).await;
    // The upstream saw the requests in order; its last tools/call carried the new token.
    let requests = s.upstream.seen_requests.lock().unwrap().clone();
    let last_call = requests.iter().rposition(|r| r == "POST tools/call").unwrap();
    assert_eq!(s.upstream.seen()[last_call].as_deref(), Some("Bearer replaced"));
    let first_call = requests.iter().position(|r| r == "POST tools/call").unwrap();
    assert_eq!(s.upstream.seen()[first_call].as_deref(), Some(format!("Bearer {TOKEN}").as_str()));
}

#[sqlx::test]
async fn a_call_after_the_upstream_forgot_the_session_succeeds_on_a_new_one(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let s = setup(&app, bearer(), catalog().legacy_only()).await;
    say(&s.mcp, 1).await;
    let before = counts(&s.upstream);
    s.upstream.restart();
    say(&s.mcp, 2).await;
    say(&s.mcp, 3).await;
    let [initialized, called, _] = since(before, &s.upstream);
    assert_eq!(initialized, 1, "a new session, once");
    // The call the 404 refused is sent again on the new session: refused once when we sent
    // it (decision 0074) and once when rmcp did, before it initialised again.
    assert!((2..=4).contains(&called), "{called}");
}

/// Calls after a session's first are sent by Switchboard itself (decision 0074) and answer
/// what rmcp would on the way: the upstream's ping is answered, its tool-list change starts a
/// resync, and every request stays in the upstream's session.
#[sqlx::test]
async fn a_call_answers_the_upstreams_ping_and_follows_its_list_change(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let tenant = app.tenant("a").await;
    let upstream = ScriptedMcp::spawn().await;
    let c = app.create_connector(&tenant.key, json!({"url": upstream.url, "auth": {"mode": "none"}})).await;
    let id = c["id"].as_str().unwrap();
    let res = app.post_json(&format!("/api/v1/connectors/{id}/connect"), &tenant.key, json!({})).await;
    assert_eq!(expect_json(res, 200).await["status"], "connected");
    let count = |method: &str| upstream.methods().iter().filter(|m| *m == method).count();
    let path = format!("/api/v1/connectors/{id}/tools/{CHATTY}/call");
    for call in 1..=3 {
        let lists = count("tools/list");
        let res = app.post_json(&path, &tenant.key, json!({"arguments": {}})).await;
        let text = expect_json(res, 200).await["content"][0]["text"].as_str().unwrap().to_owned();
        // rmcp numbers its requests; ours are named.
        let ours = text.starts_with(r#"chatted "switchboard-"#);
        assert_eq!(ours, call > 1, "call {call}: {text}");
        assert_eq!(count("tools/call"), call);
        // The ping's answer and the resync follow the call's result; wait for them.
        for _ in 0..100 {
            if count(r#"response "server-ping""#) == call && count("tools/list") > lists {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert_eq!(count(r#"response "server-ping""#), call, "call {call}: {:?}", upstream.methods());
        assert!(count("tools/list") > lists, "call {call}: a resync listed the tools again");
    }
    let seen = upstream.seen.lock().unwrap().clone();
    let calls: Vec<_> = seen.iter().filter(|(m, _)| m == "tools/call" || m.starts_with("response")).collect();
    assert!(calls.iter().all(|(_, s)| s.as_deref() == Some(UPSTREAM_SESSION)), "{calls:?}");
}
