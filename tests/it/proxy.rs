//! The MCP proxy over real HTTP: rmcp and legacy-SSE upstreams on 127.0.0.1, the real router,
//! real Postgres, a real authorization server for the refresh paths.

use std::time::{Duration, Instant};

use futures_util::StreamExt as _;
use reqwest::Method;
use serde_json::{Value, json};
use sqlx::PgPool;
use switchboard::platform::crypto::hash_api_key;

use crate::support::auth_server::{AsConfig, AuthServer};
use crate::support::legacy_sse::LegacySseServer;
use crate::support::mcp_server::{Guard, McpServer};
use crate::support::raw_mcp::RawMcp;
use crate::support::scripted_mcp::{ScriptedMcp, UPSTREAM_SESSION};
use crate::support::{TestApp, TestTenant, connected_oauth_connector, expect_json, expect_problem};

async fn connected(app: &TestApp, t: &TestTenant, body: Value) -> String {
    let c = app.create_connector(&t.key, body).await;
    let id = c["id"].as_str().unwrap().to_owned();
    let res = app.post_json(&format!("/api/v1/connectors/{id}/connect"), &t.key, json!({})).await;
    assert_eq!(expect_json(res, 200).await["status"], "connected");
    id
}

async fn replace_bearer(app: &TestApp, t: &TestTenant, id: &str, token: &str) {
    let res = app
        .request(Method::PATCH, &format!("/api/v1/connectors/{id}"), Some(&t.key))
        .json(&json!({"auth": {"mode": "bearer", "token": token}}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

async fn bearer_setup(db: PgPool) -> (TestApp, TestTenant, McpServer, String, String) {
    let app = TestApp::spawn(db).await;
    let t = app.tenant("a").await;
    let upstream = McpServer::spawn(Guard::Authorization("Bearer upstream-token".into())).await;
    let id = connected(
        &app,
        &t,
        json!({"url": upstream.url, "auth": {"mode": "bearer", "token": "upstream-token"}}),
    )
    .await;
    let proxy_key = app.key_with_scopes(&t, &["proxy"]).await;
    (app, t, upstream, id, proxy_key)
}

#[sqlx::test]
async fn tools_work_through_the_proxy_with_the_credential_injected(db: PgPool) {
    let (app, _t, upstream, id, key) = bearer_setup(db).await;
    let mut mcp = RawMcp::new(&app.url(&format!("/api/v1/connectors/{id}/mcp")), &key);
    let init = mcp.initialize().await;
    assert_eq!(init["serverInfo"]["name"], "switchboard-test-upstream");
    assert!(mcp.session.is_some(), "the upstream's session id comes back");

    let tools = mcp.call(1, "tools/list", json!({})).await;
    let names: Vec<&str> =
        tools["result"]["tools"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert!(names.contains(&"echo"), "{tools}");
    let echoed =
        mcp.call(2, "tools/call", json!({"name": "echo", "arguments": {"message": "hi there"}})).await;
    assert_eq!(echoed["result"]["content"][0]["text"], "hi there");

    let seen = upstream.seen();
    assert!(seen.len() >= 4);
    assert!(seen.iter().all(|a| a.as_deref() == Some("Bearer upstream-token")), "{seen:?}");
    assert!(!format!("{seen:?}").contains("sk_"), "the caller's key never reaches the upstream");

    // DELETE ends the session; the upstream's 404 for it passes through.
    let deleted = mcp.request(Method::DELETE).send().await.unwrap();
    assert!(deleted.status().is_success(), "{}", deleted.status());
    let after = mcp.post(json!({"jsonrpc": "2.0", "id": 3, "method": "tools/list"})).await;
    assert_eq!(after.status(), 404);
}

#[sqlx::test]
async fn progress_notifications_stream_event_by_event(db: PgPool) {
    let (app, _t, _upstream, id, key) = bearer_setup(db).await;
    let mut mcp = RawMcp::new(&app.url(&format!("/api/v1/connectors/{id}/mcp")), &key);
    mcp.initialize().await;
    let res = mcp
        .post(json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
                     "params": {"name": "slow", "arguments": {}, "_meta": {"progressToken": "p1"}}}))
        .await;
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    assert_eq!(res.headers()["x-accel-buffering"], "no");
    let started = Instant::now();
    let mut arrivals = Vec::new();
    let mut buffer = String::new();
    let mut body = res.bytes_stream();
    while let Some(chunk) = body.next().await {
        buffer.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
        while let Some(end) = buffer.find("\n\n") {
            let event: String = buffer.drain(..end + 2).collect();
            if event.contains("notifications/progress") {
                arrivals.push(started.elapsed());
            }
            if event.contains("\"id\":7") {
                assert!(event.contains("done"));
            }
        }
    }
    assert_eq!(arrivals.len(), 3, "three progress notifications");
    let spread = arrivals[2] - arrivals[0];
    assert!(
        spread >= Duration::from_millis(300),
        "events arrived as they were sent, not at the end: {arrivals:?}"
    );
}

#[sqlx::test]
async fn callers_are_checked_before_anything_is_forwarded(db: PgPool) {
    let (app, t, upstream, id, key) = bearer_setup(db).await;
    let path = format!("/api/v1/connectors/{id}/mcp");
    let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {}});
    let seen_before = upstream.seen().len();

    let other = app.tenant("b").await;
    let read_only = app.key_with_scopes(&t, &["read"]).await;
    expect_problem(app.post_json(&path, &other.key, init.clone()).await, 404, "not_found").await;
    expect_problem(app.post_json(&path, &read_only, init.clone()).await, 403, "insufficient_scope").await;
    let res = app.request(Method::POST, &path, None).json(&init).send().await.unwrap();
    assert_eq!(res.headers()["www-authenticate"], "Bearer");
    expect_problem(res, 401, "unauthorized").await;
    expect_problem(app.post_json("/api/v1/connectors/nope/mcp", &key, init.clone()).await, 404, "not_found")
        .await;

    let huge = "x".repeat(5 * 1024 * 1024);
    let res = app
        .request(Method::POST, &path, Some(&key))
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    expect_problem(res, 413, "payload_too_large").await;

    // A legacy SSE connector is reached at /sse, not /mcp.
    let legacy = LegacySseServer::spawn(None, None).await;
    let sse_id =
        connected(&app, &t, json!({"url": legacy.url, "transport": "sse", "auth": {"mode": "none"}})).await;
    let res = app.post_json(&format!("/api/v1/connectors/{sse_id}/mcp"), &key, init.clone()).await;
    let problem = expect_problem(res, 409, "wrong_transport").await;
    assert!(problem["detail"].as_str().unwrap().ends_with("/sse"));

    // Not connected: 409 saying the status.
    app.post_json(&format!("/api/v1/connectors/{id}/disconnect"), &t.key, json!({})).await;
    let problem =
        expect_problem(app.post_json(&path, &key, init).await, 409, "connector_not_connected").await;
    assert!(problem["detail"].as_str().unwrap().contains("disconnected"));
    assert_eq!(upstream.seen().len(), seen_before, "nothing reached the upstream");
}

#[sqlx::test]
async fn a_rejected_static_credential_disconnects_and_changes_are_seen_at_once(db: PgPool) {
    let (app, t, upstream, id, key) = bearer_setup(db).await;
    let mut mcp = RawMcp::new(&app.url(&format!("/api/v1/connectors/{id}/mcp")), &key);
    mcp.initialize().await;
    // Replace the credential with a wrong one: the very next request uses it.
    replace_bearer(&app, &t, &id, "stale").await;
    let res = mcp.post(json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"})).await;
    assert!(res.headers().get("www-authenticate").is_none(), "the upstream's challenge is not relayed");
    expect_problem(res, 502, "credentials_rejected").await;
    assert_eq!(upstream.seen().last().cloned().flatten().as_deref(), Some("Bearer stale"));
    let c = app.get_json(&format!("/api/v1/connectors/{id}"), &t.key).await;
    assert_eq!(c["status"], "disconnected");
    assert_eq!(c["disconnect_reason"]["code"], "credentials_rejected");
}

#[sqlx::test]
async fn a_warm_proxied_request_reads_nothing_from_the_database(db: PgPool) {
    let (app, t, _upstream, id, key) = bearer_setup(db.clone()).await;
    let mut mcp = RawMcp::new(&app.url(&format!("/api/v1/connectors/{id}/mcp")), &key);
    mcp.initialize().await;
    // Take away the tables a cold request reads: whatever still works read neither.
    sqlx::raw_sql(
        "ALTER TABLE connectors RENAME TO connectors_hidden; ALTER TABLE api_keys RENAME TO api_keys_hidden",
    )
    .execute(&db)
    .await
    .unwrap();
    let tools = mcp.call(1, "tools/list", json!({})).await;
    assert!(tools["result"]["tools"].is_array(), "{tools}");
    // The database really is out of reach for anything not cached.
    let other_key = app.request(Method::GET, "/api/v1/connectors", Some(&t.key)).send().await.unwrap();
    assert!(other_key.status().is_server_error(), "{}", other_key.status());
    sqlx::raw_sql(
        "ALTER TABLE connectors_hidden RENAME TO connectors; ALTER TABLE api_keys_hidden RENAME TO api_keys",
    )
    .execute(&db)
    .await
    .unwrap();
}

/// Sends `tools/list` through `mcp` until `done` says the answer shows the change, or fails
/// after a few seconds: another replica hears of changes asynchronously (NOTIFY).
async fn until_seen(mcp: &RawMcp, mut done: impl FnMut(&reqwest::Response) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let res = mcp.post(json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"})).await;
        if done(&res) {
            return;
        }
        assert!(Instant::now() < deadline, "the replica never saw the change (last answer {})", res.status());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[sqlx::test]
async fn changes_made_elsewhere_reach_another_replicas_cache(db: PgPool) {
    let app = TestApp::spawn(db.clone()).await;
    let replica = app.replica().await;
    let t = app.tenant("a").await;
    let upstream = McpServer::spawn(Guard::Open).await;
    let id =
        connected(&app, &t, json!({"url": upstream.url, "auth": {"mode": "bearer", "token": "first"}})).await;
    let key = app.key_with_scopes(&t, &["proxy"]).await;
    let mut mcp = RawMcp::new(&replica.url(&format!("/api/v1/connectors/{id}/mcp")), &key);
    mcp.initialize().await;
    assert!(replica.state.caches.target(id.parse().unwrap()).is_some(), "the replica cached the target");
    assert!(replica.state.caches.key(&hash_api_key(&key)).is_some(), "and the key");

    // A new credential set through the first replica: the second starts injecting it.
    replace_bearer(&app, &t, &id, "second").await;
    until_seen(&mcp, |_| upstream.seen().last().cloned().flatten().as_deref() == Some("Bearer second")).await;

    // A key revoked by another process (the CLI writes straight to the database).
    sqlx::query("UPDATE api_keys SET revoked_at = now() WHERE key_hash = $1")
        .bind(hash_api_key(&key).as_slice())
        .execute(&db)
        .await
        .unwrap();
    until_seen(&mcp, |res| res.status() == 401).await;
}

#[sqlx::test]
async fn unreachable_upstreams_are_502_and_leave_the_status(db: PgPool) {
    let app = TestApp::spawn(db.clone()).await;
    let t = app.tenant("a").await;
    let upstream = McpServer::spawn(Guard::Open).await;
    let id = connected(&app, &t, json!({"url": upstream.url, "auth": {"mode": "none"}})).await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    sqlx::query("UPDATE connectors SET url = $1")
        .bind(format!("http://{closed}/mcp"))
        .execute(&db)
        .await
        .unwrap();
    let res = app
        .post_json(
            &format!("/api/v1/connectors/{id}/mcp"),
            &t.key,
            json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}),
        )
        .await;
    expect_problem(res, 502, "upstream_unreachable").await;
    assert_eq!(app.get_json(&format!("/api/v1/connectors/{id}"), &t.key).await["status"], "connected");
}

async fn oauth_setup(db: PgPool) -> (TestApp, TestTenant, AuthServer, McpServer, String) {
    let app = TestApp::spawn_public(db, |_| {}).await;
    let t = app.tenant("a").await;
    let auth_server = AuthServer::spawn(AsConfig::default()).await;
    let upstream = McpServer::spawn(Guard::OAuth { server: auth_server.clone(), scope: None }).await;
    let id = connected_oauth_connector(&app, &t.key, &upstream.url).await;
    (app, t, auth_server, upstream, id)
}

fn refreshes(auth_server: &AuthServer) -> usize {
    auth_server.state.lock().unwrap().token_requests_of("refresh_token").len()
}

#[sqlx::test]
async fn an_upstream_401_refreshes_once_and_retries(db: PgPool) {
    let (app, t, auth_server, upstream, id) = oauth_setup(db).await;
    let mut mcp = RawMcp::new(&app.url(&format!("/api/v1/connectors/{id}/mcp")), &t.key);
    mcp.initialize().await;
    // The AS forgets the access token (revoked, or expired early): the upstream answers 401.
    auth_server.state.lock().unwrap().access_tokens.clear();
    let echoed = mcp.call(1, "tools/call", json!({"name": "echo", "arguments": {"message": "again"}})).await;
    assert_eq!(echoed["result"]["content"][0]["text"], "again");
    assert_eq!(refreshes(&auth_server), 1);
    let seen = upstream.seen();
    let (rejected, retried) = (&seen[seen.len() - 2], &seen[seen.len() - 1]);
    assert_ne!(rejected, retried, "the retry carried the new token");

    // When the refresh itself is refused, the connector disconnects and the caller is told.
    auth_server.state.lock().unwrap().access_tokens.clear();
    auth_server.revoke_refresh_tokens();
    let res = mcp.post(json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"})).await;
    expect_problem(res, 502, "refresh_failed").await;
    let c = app.get_json(&format!("/api/v1/connectors/{id}"), &t.key).await;
    assert_eq!(c["disconnect_reason"]["code"], "refresh_failed");
}

#[sqlx::test]
async fn a_token_known_to_be_expired_is_refreshed_before_sending(db: PgPool) {
    let (app, t, auth_server, upstream, id) = oauth_setup(db.clone()).await;
    sqlx::query("UPDATE connectors SET token_expires_at = now() - interval '1 second'")
        .execute(&db)
        .await
        .unwrap();
    auth_server.state.lock().unwrap().access_tokens.clear(); // the old token would fail
    let seen_before = upstream.seen().len();
    let mut mcp = RawMcp::new(&app.url(&format!("/api/v1/connectors/{id}/mcp")), &t.key);
    mcp.initialize().await;
    assert_eq!(refreshes(&auth_server), 1);
    let seen = upstream.seen();
    let first = seen[seen_before].clone().unwrap();
    let token = first.trim_start_matches("Bearer ");
    assert!(auth_server.accepts(token, &upstream.url), "the first request already used the new token");
}

#[sqlx::test]
async fn legacy_sse_is_proxied_with_a_rewritten_endpoint(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let t = app.tenant("a").await;
    let upstream = LegacySseServer::spawn(Some("Bearer legacy-token"), None).await;
    let id = connected(
        &app,
        &t,
        json!({"url": upstream.url, "transport": "sse", "auth": {"mode": "bearer", "token": "legacy-token"}}),
    )
    .await;
    let sse_url = app.url(&format!("/api/v1/connectors/{id}/sse"));
    let stream = app.client.get(&sse_url).bearer_auth(&t.key).send().await.unwrap();
    assert_eq!(stream.status(), 200);
    assert_eq!(stream.headers()["content-type"], "text/event-stream");
    let mut body = stream.bytes_stream();
    let mut text = String::new();
    while !text.contains("\n\n") {
        text.push_str(&String::from_utf8_lossy(&body.next().await.unwrap().unwrap()));
    }
    let data = text.lines().find_map(|l| l.strip_prefix("data: ")).unwrap().to_owned();
    assert!(text.starts_with("event: endpoint\n") && data.starts_with("messages?session="), "{text}");
    assert!(!data.contains(&upstream.addr.to_string()), "the upstream URL is sealed, not shown");
    let messages = url::Url::parse(&sse_url).unwrap().join(&data).unwrap();
    assert_eq!(messages.path(), format!("/api/v1/connectors/{id}/messages"));

    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}});
    let res = app.client.post(messages.clone()).bearer_auth(&t.key).json(&init).send().await.unwrap();
    assert_eq!(res.status(), 202);
    let mut rest = String::new();
    while !rest.contains("legacy-sse-test") {
        rest.push_str(&String::from_utf8_lossy(&body.next().await.unwrap().unwrap()));
    }
    assert!(rest.starts_with("event: message\n"), "{rest}");

    // The session token is bound to its connector and tenant.
    let other = LegacySseServer::spawn(None, None).await;
    let other_id =
        connected(&app, &t, json!({"url": other.url, "transport": "sse", "auth": {"mode": "none"}})).await;
    let query = messages.query().unwrap();
    let stolen = app.url(&format!("/api/v1/connectors/{other_id}/messages?{query}"));
    let res = app.client.post(stolen).bearer_auth(&t.key).json(&init).send().await.unwrap();
    expect_problem(res, 404, "not_found").await;
    let b = app.tenant("b").await;
    let res = app.client.post(messages).bearer_auth(&b.key).json(&init).send().await.unwrap();
    expect_problem(res, 404, "not_found").await;
}

async fn scripted_setup(db: PgPool) -> (TestApp, TestTenant, ScriptedMcp, String) {
    let app = TestApp::spawn(db).await;
    let t = app.tenant("a").await;
    let upstream = ScriptedMcp::spawn().await;
    let id = connected(&app, &t, json!({"url": upstream.url, "auth": {"mode": "none"}})).await;
    (app, t, upstream, id)
}

#[sqlx::test]
async fn an_upstream_redirect_is_a_502_not_relayed(db: PgPool) {
    let (app, t, _upstream, id) = scripted_setup(db).await;
    let mut mcp = RawMcp::new(&app.url(&format!("/api/v1/connectors/{id}/mcp")), &t.key);
    mcp.client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let res = mcp.post(json!({"jsonrpc": "2.0", "id": 1, "method": "test/redirect"})).await;
    assert!(res.headers().get("location").is_none(), "the upstream's Location is not passed on");
    let problem = expect_problem(res, 502, "upstream_redirect").await;
    assert!(problem["detail"].as_str().unwrap().contains("307"), "{problem}");
}

#[sqlx::test]
async fn upstream_session_ids_are_bound_to_tenant_and_connector(db: PgPool) {
    let (app, t, upstream, id) = scripted_setup(db).await;
    let other_connector = connected(&app, &t, json!({"url": upstream.url, "auth": {"mode": "none"}})).await;
    let other_tenant = app.tenant("b").await;
    let foreign =
        connected(&app, &other_tenant, json!({"url": upstream.url, "auth": {"mode": "none"}})).await;
    let url = |id: &str| app.url(&format!("/api/v1/connectors/{id}/mcp"));

    let mut mcp = RawMcp::new(&url(&id), &t.key);
    mcp.initialize().await;
    let sealed = mcp.session.clone().expect("a session id comes back");
    assert_ne!(sealed, UPSTREAM_SESSION, "the caller never sees the upstream's own session id");
    assert!(sealed.bytes().all(|b| (0x21..=0x7e).contains(&b)), "visible ASCII, as MCP requires: {sealed}");
    let listed = mcp.call(1, "tools/list", json!({})).await;
    assert!(listed["result"]["tools"].is_array(), "{listed}");
    assert_eq!(
        upstream.sessions().last().unwrap().as_deref(),
        Some(UPSTREAM_SESSION),
        "unsealed on the way up"
    );

    let reached = upstream.seen.lock().unwrap().len();
    let list = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"});
    for (connector, key, session) in [
        (other_connector.as_str(), t.key.as_str(), sealed.as_str()),
        (foreign.as_str(), other_tenant.key.as_str(), sealed.as_str()),
        (id.as_str(), t.key.as_str(), UPSTREAM_SESSION),
        (id.as_str(), t.key.as_str(), "k.garbage"),
    ] {
        let mut stolen = RawMcp::new(&url(connector), key);
        stolen.session = Some(session.to_owned());
        let res = stolen.post(list.clone()).await;
        expect_problem(res, 404, "not_found").await;
    }
    assert_eq!(upstream.seen.lock().unwrap().len(), reached, "no foreign session id reached the upstream");

    // DELETE ends the session upstream with the real id.
    let deleted = mcp.request(Method::DELETE).send().await.unwrap();
    assert!(deleted.status().is_success(), "{}", deleted.status());
}
