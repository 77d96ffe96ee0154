//! A gateway's MCP endpoint over real HTTP: a plain JSON-RPC client (what curl sends) in both
//! MCP eras, against a real rmcp upstream behind a connector; keys, sessions, replicas, logs.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};
use sqlx::PgPool;

use super::gateway::{add_tool, call_statuses, create_gateway, issue_key, many_tools, setup, setup_with};
use crate::support::binary::Switchboard;
use crate::support::raw_mcp::{RawMcp, response_to};
use crate::support::{TestApp, TestTenant, expect_json, expect_problem, test_keyring, test_settings};
use switchboard::config::Settings;
use switchboard::connectors::Presets;
use switchboard::http::AppState;

/// A gateway `team` exposing the upstream's `echo` as `say`, `fail` as itself, and `sleep`
/// disabled; with one key. Returns (tenant, gateway id, key, keep-alive upstream).
async fn gateway(app: &TestApp) -> (TestTenant, String, String, crate::support::mcp_server::McpServer) {
    let (t, upstream, connector) = setup(app, "a").await;
    let g = create_gateway(app, &t.key, "team").await;
    let gid = g["id"].as_str().unwrap().to_owned();
    for (tool, alias, enabled) in [("echo", "say", true), ("fail", "fail", true), ("sleep", "sleep", false)] {
        let body = json!({"connector_id": connector, "tool": tool, "alias": alias, "enabled": enabled});
        expect_json(add_tool(app, &t.key, &gid, body).await, 201).await;
    }
    let key = issue_key(app, &t.key, &gid, json!({})).await["api_key"].as_str().unwrap().to_owned();
    (t, gid, key, upstream)
}

fn endpoint(app: &TestApp, slug: &str) -> String {
    app.url(&format!("/api/v1/gateways/{slug}/mcp"))
}

fn tool_names(list: &Value) -> Vec<&str> {
    list["result"]["tools"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect()
}

#[sqlx::test]
async fn a_2025_client_sees_only_enabled_aliases_and_calls_the_upstream_through_them(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let (t, gid, key, _upstream) = gateway(&app).await;
    let mut mcp = RawMcp::new(&endpoint(&app, "team"), &key);
    let init = mcp.initialize().await;
    assert_eq!(init["instructions"], "Use these tools for the team.");
    assert_eq!(init["serverInfo"]["name"], "switchboard-gateway/team");
    let session = mcp.session.clone().expect("a 2025-era client gets a session id");
    assert!(session.contains('.'), "sealed, not a bare id: {session}");

    let list = mcp.call(1, "tools/list", json!({})).await;
    assert_eq!(tool_names(&list), ["fail", "say"], "sleep is disabled: {list}");
    assert_eq!(list["result"]["tools"][1]["description"], "Echo the arguments");
    assert_eq!(list["result"]["tools"][1]["inputSchema"]["required"], json!(["message"]));

    let said = mcp.call(2, "tools/call", json!({"name": "say", "arguments": {"message": "hi"}})).await;
    assert_eq!(said["result"]["structuredContent"], json!({"message": "hi"}), "{said}");
    let failed = mcp.call(3, "tools/call", json!({"name": "fail", "arguments": {}})).await;
    assert_eq!(failed["result"]["isError"], true, "{failed}");
    let invalid = mcp.call(4, "tools/call", json!({"name": "say", "arguments": {"message": 7}})).await;
    assert_eq!(invalid["result"]["isError"], true, "{invalid}");
    assert!(
        invalid["result"]["content"][0]["text"].as_str().unwrap().contains("invalid arguments"),
        "{invalid}"
    );
    let hidden = mcp.call(5, "tools/call", json!({"name": "sleep", "arguments": {"ms": 1}})).await;
    assert_eq!(hidden["error"]["code"], -32602, "a disabled tool does not exist: {hidden}");
    let pong = mcp.call(6, "ping", json!({})).await;
    assert_eq!(pong["result"], json!({}), "{pong}");

    // Every call is in the log, newest first, with filters and cursors.
    let logs = app.get_json(&format!("/api/v1/gateways/{gid}/logs"), &t.key).await;
    let statuses = call_statuses(&logs);
    assert_eq!(statuses, [("sleep", "error"), ("say", "error"), ("fail", "error"), ("say", "success")]);
    assert_eq!(logs["items"][3]["tool_name"], "echo");
    assert!(logs["items"][3]["arguments"].is_null(), "payloads are off by default");
    assert_eq!(logs["items"][2]["error"], "it failed");
    let ok = app.get_json(&format!("/api/v1/gateways/{gid}/logs?status=success"), &t.key).await;
    assert_eq!(ok["items"].as_array().unwrap().len(), 1);
    let by_tool = app.get_json(&format!("/api/v1/gateways/{gid}/logs?tool=echo"), &t.key).await;
    assert_eq!(by_tool["items"].as_array().unwrap().len(), 2, "the upstream name matches too");
    let page = app.get_json(&format!("/api/v1/gateways/{gid}/logs?limit=3"), &t.key).await;
    let cursor = page["next_cursor"].as_str().unwrap();
    let rest = app.get_json(&format!("/api/v1/gateways/{gid}/logs?limit=3&cursor={cursor}"), &t.key).await;
    assert_eq!(rest["items"][0]["status"], "success");
    assert!(rest["next_cursor"].is_null());
    let future =
        app.get_json(&format!("/api/v1/gateways/{gid}/logs?since=2999-01-01T00:00:00Z"), &t.key).await;
    assert!(future["items"].as_array().unwrap().is_empty());
}

#[sqlx::test]
async fn the_seeds_curl_requests_work_verbatim_with_the_key_in_the_query(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let (_t, _gid, key, _upstream) = gateway(&app).await;
    let client = reqwest::Client::new();
    for param in ["apiKey", "api_key"] {
        let url = format!("{}?{param}={key}", endpoint(&app, "team"));
        let post = |body: Value| {
            client
                .post(&url)
                .header("content-type", "application/json")
                .header("accept", "application/json, text/event-stream")
                .body(body.to_string())
                .send()
        };
        let res = post(json!({"jsonrpc": "2.0", "method": "tools/list", "id": 1})).await.unwrap();
        assert_eq!(res.status(), 200, "{param}");
        assert_eq!(tool_names(&response_to(res, 1).await), ["fail", "say"]);
        let call = json!({"jsonrpc": "2.0", "method": "tools/call", "id": 2,
                          "params": {"name": "say", "arguments": {"message": "from curl"}}});
        let res = post(call).await.unwrap();
        assert_eq!(response_to(res, 2).await["result"]["structuredContent"]["message"], "from curl");
    }
}

#[sqlx::test]
async fn a_2026_client_discovers_and_calls_without_a_session(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let (_t, _gid, key, _upstream) = gateway(&app).await;
    let modern = RawMcp::new(&endpoint(&app, "team"), &key);
    let send = |method: &str, name: Option<&str>, params: Value| modern.modern(method, name, params).send();
    let res = send("server/discover", None, json!({})).await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers().get("mcp-session-id").is_none(), "no sessions in 2026-07-28");
    let discovered = response_to(res, 1).await;
    assert!(discovered["result"]["supportedVersions"].to_string().contains("2026-07-28"), "{discovered}");
    assert_eq!(discovered["result"]["instructions"], "Use these tools for the team.", "{discovered}");

    let res = send("tools/list", None, json!({})).await.unwrap();
    assert_eq!(tool_names(&response_to(res, 1).await), ["fail", "say"]);
    let params = json!({"name": "say", "arguments": {"message": "2026"}});
    let res = send("tools/call", Some("say"), params.clone()).await.unwrap();
    assert_eq!(response_to(res, 1).await["result"]["structuredContent"]["message"], "2026");
    // The headers must say what the body says.
    let res = send("tools/call", Some("fail"), params).await.unwrap();
    assert_eq!(res.status(), 400);
}

#[sqlx::test]
async fn only_this_gateways_live_keys_and_proxy_scoped_tenant_keys_get_in(db: PgPool) {
    let app = TestApp::spawn(db.clone()).await;
    let (t, gid, key, _upstream) = gateway(&app).await;
    let url = endpoint(&app, "team");
    let list = json!({"jsonrpc": "2.0", "method": "tools/list", "id": 1});
    let status = |token: Option<String>| {
        let mut req = app.client.post(&url).header("accept", "application/json, text/event-stream");
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        let body = list.clone();
        async move { req.json(&body).send().await.unwrap() }
    };
    assert_eq!(status(Some(key.clone())).await.status(), 200);
    expect_problem(status(None).await, 401, "unauthorized").await;
    expect_problem(status(Some("gk_not-a-key".into())).await, 401, "unauthorized").await;

    // A key of another gateway of the same tenant opens only that one.
    let other = create_gateway(&app, &t.key, "other").await;
    let other_key = issue_key(&app, &t.key, other["id"].as_str().unwrap(), json!({})).await;
    expect_problem(status(Some(other_key["api_key"].as_str().unwrap().into())).await, 401, "unauthorized")
        .await;

    // A tenant key works with the proxy scope only.
    assert_eq!(status(Some(app.key_with_scopes(&t, &["proxy"]).await)).await.status(), 200);
    expect_problem(status(Some(app.key_with_scopes(&t, &["read"]).await)).await, 403, "insufficient_scope")
        .await;
    // Another tenant's proxy key does not find this tenant's gateway.
    let b = app.tenant("b").await;
    expect_problem(status(Some(app.key_with_scopes(&b, &["proxy"]).await)).await, 404, "not_found").await;

    // Expired and revoked keys stop working.
    let expiring = issue_key(&app, &t.key, &gid, json!({"expires_at": "2999-01-01T00:00:00Z"})).await;
    let expiring_key = expiring["api_key"].as_str().unwrap().to_owned();
    assert_eq!(status(Some(expiring_key.clone())).await.status(), 200);
    sqlx::query("UPDATE gateway_keys SET expires_at = now() - interval '1 second' WHERE id = $1::uuid")
        .bind(expiring["id"].as_str().unwrap())
        .execute(&db)
        .await
        .unwrap();
    wait_until_refused(&app, &url, &expiring_key).await;
    let kid = app.get_json(&format!("/api/v1/gateways/{gid}/keys"), &t.key).await["items"][0]["id"].clone();
    let revoke = app.request(
        Method::DELETE,
        &format!("/api/v1/gateways/{gid}/keys/{}", kid.as_str().unwrap()),
        Some(&t.key),
    );
    assert_eq!(revoke.send().await.unwrap().status(), 204);
    expect_problem(status(Some(key)).await, 401, "unauthorized").await;
}

/// Polls until `key` is refused (401) at `url`, for at most a second; returns how long it took.
async fn wait_until_refused(app: &TestApp, url: &str, key: &str) -> Duration {
    let started = Instant::now();
    loop {
        let res = app
            .client
            .post(url)
            .bearer_auth(key)
            .header("accept", "application/json, text/event-stream")
            .json(&json!({"jsonrpc": "2.0", "method": "ping", "id": 1}))
            .send()
            .await
            .unwrap();
        if res.status() == 401 {
            return started.elapsed();
        }
        assert!(started.elapsed() < Duration::from_secs(1), "the key still works after a second");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[sqlx::test]
async fn a_renamed_gateway_answers_its_keys_at_the_new_url_only(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let (t, gid, key, _upstream) = gateway(&app).await;
    let list = json!({"jsonrpc": "2.0", "method": "tools/list", "id": 1});
    let status = |slug: &str| {
        let req = app.client.post(endpoint(&app, slug)).bearer_auth(&key);
        let req = req.header("accept", "application/json, text/event-stream").json(&list);
        async move { req.send().await.unwrap() }
    };
    assert_eq!(status("team").await.status(), 200, "the key is cached now");
    let res = app
        .request(Method::PATCH, &format!("/api/v1/gateways/{gid}"), Some(&t.key))
        .json(&json!({"slug": "renamed"}))
        .send()
        .await
        .unwrap();
    let renamed = expect_json(res, 200).await;
    assert!(renamed["mcp_url"].as_str().unwrap().ends_with("/api/v1/gateways/renamed/mcp"), "{renamed}");
    assert_eq!(status("renamed").await.status(), 200);
    expect_problem(status("team").await, 401, "unauthorized").await;
}

#[sqlx::test]
async fn sessions_and_revocations_hold_across_two_replicas(db: PgPool) {
    let one = TestApp::spawn(db).await;
    let two = one.replica().await;
    let (t, gid, key, _upstream) = gateway(&one).await;
    let mut on_one = RawMcp::new(&endpoint(&one, "team"), &key);
    on_one.initialize().await;
    // The session initialised on one replica is served by the other.
    let mut on_two = RawMcp::new(&endpoint(&two, "team"), &key);
    on_two.session = on_one.session.clone();
    on_two.protocol_version = on_one.protocol_version.clone();
    let said =
        on_two.call(1, "tools/call", json!({"name": "say", "arguments": {"message": "replica"}})).await;
    assert_eq!(said["result"]["structuredContent"]["message"], "replica");
    // A session id this gateway did not give out is unknown (the client initialises again).
    let mut forged = RawMcp::new(&endpoint(&two, "team"), &key);
    forged.session = Some("test.AAAA".into());
    assert_eq!(forged.post(json!({"jsonrpc": "2.0", "method": "ping", "id": 1})).await.status(), 404);

    // Revoked on one replica, refused on the other within a second (LISTEN/NOTIFY).
    let kid = one.get_json(&format!("/api/v1/gateways/{gid}/keys"), &t.key).await["items"][0]["id"].clone();
    assert_eq!(
        on_two.post(json!({"jsonrpc": "2.0", "method": "ping", "id": 2})).await.status(),
        200,
        "warm on two"
    );
    let path = format!("/api/v1/gateways/{gid}/keys/{}", kid.as_str().unwrap());
    assert_eq!(one.request(Method::DELETE, &path, Some(&t.key)).send().await.unwrap().status(), 204);
    let took = wait_until_refused(&two, &endpoint(&two, "team"), &key).await;
    eprintln!("revocation reached the other replica in {} ms", took.as_millis());
}

#[sqlx::test]
async fn payloads_are_logged_only_when_the_tenant_opts_in_and_cut_at_16_kib(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let (t, gid, key, _upstream) = gateway(&app).await;
    let mcp = RawMcp::new(&endpoint(&app, "team"), &key);
    let patch = app.request(
        Method::PATCH,
        &format!("/api/v1/admin/tenants/{}", t.id),
        Some(crate::support::ADMIN_TOKEN),
    );
    expect_json(patch.json(&json!({"log_tool_payloads": true})).send().await.unwrap(), 200).await;
    let long = "x".repeat(20 * 1024);
    let said = mcp.call(1, "tools/call", json!({"name": "say", "arguments": {"message": long}})).await;
    assert_eq!(
        said["result"]["structuredContent"]["message"].as_str().unwrap().len(),
        long.len(),
        "the client gets it all"
    );
    let log = app.get_json(&format!("/api/v1/gateways/{gid}/logs?limit=1"), &t.key).await;
    let (arguments, result) =
        (log["items"][0]["arguments"].as_str().unwrap(), log["items"][0]["result"].as_str().unwrap());
    for kept in [arguments, result] {
        assert!(kept.starts_with('{') && kept.ends_with("…[truncated]"), "{}", &kept[..40]);
        assert!(kept.len() <= 16 * 1024 + "…[truncated]".len());
    }
}

/// The real binary with `env`, and a key of its gateway `quiet` (which has no tools).
async fn quiet_gateway(db: &PgPool, env: &[(&str, &str)]) -> (Switchboard, String) {
    let sb = Switchboard::start(db, env).await;
    let t = sb.app.tenant("a").await;
    let g = create_gateway(&sb.app, &t.key, "quiet").await;
    let key = issue_key(&sb.app, &t.key, g["id"].as_str().unwrap(), json!({})).await;
    let key = key["api_key"].as_str().unwrap().to_owned();
    (sb, key)
}

/// The real binary, logging at debug level (rmcp's own logs included): a gateway key sent in
/// the query string and in the header appears in no log line and no metric.
#[sqlx::test]
async fn gateway_keys_never_reach_logs_or_metrics(db: PgPool) {
    let (sb, key) = quiet_gateway(&db, &[("RUST_LOG", "debug")]).await;
    let app = &sb.app;
    let list = json!({"jsonrpc": "2.0", "method": "tools/list", "id": 1});
    let url = endpoint(app, "quiet");
    for req in [
        app.client.post(format!("{url}?apiKey={key}")),
        app.client.post(format!("{url}?x=1&api_key={key}")),
        app.client.post(&url).bearer_auth(&key),
    ] {
        let res =
            req.header("accept", "application/json, text/event-stream").json(&list).send().await.unwrap();
        assert_eq!(res.status(), 200);
    }
    let metrics = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let logs = sb.logs();
    assert!(logs.contains("/api/v1/gateways/quiet/mcp"), "the requests were logged");
    let secret = &key["gk_".len()..];
    assert!(!logs.contains(secret), "a gateway key is in the log");
    assert!(!metrics.contains(secret), "a gateway key is in the metrics");
}

/// Each key has a rate at its gateway (the configured default, or the gateway's override);
/// over it, 429 with `Retry-After`. Other keys of the gateway are not affected.
#[sqlx::test]
async fn each_key_is_rate_limited_at_its_gateway_and_the_gateway_can_override_the_rate(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let (t, gid, key, _upstream) = gateway(&app).await;
    let patch = |body: Value| {
        app.request(Method::PATCH, &format!("/api/v1/gateways/{gid}"), Some(&t.key)).json(&body).send()
    };
    let bad = patch(json!({"key_rps": -1})).await.unwrap();
    let problem = expect_problem(bad, 400, "validation_failed").await;
    assert_eq!(problem["errors"][0]["field"], "key_rps", "{problem}");
    let changed = expect_json(patch(json!({"key_rps": 1, "key_burst": 2})).await.unwrap(), 200).await;
    assert_eq!((changed["key_rps"].as_i64(), changed["key_burst"].as_i64()), (Some(1), Some(2)));

    let mcp = RawMcp::new(&endpoint(&app, "team"), &key);
    let ping = |id: i64| json!({"jsonrpc": "2.0", "id": id, "method": "ping"});
    for id in 1..=2 {
        assert_eq!(mcp.post(ping(id)).await.status(), 200, "within the burst");
    }
    let refused = mcp.post(ping(3)).await;
    let retry_after: u64 = refused.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=2).contains(&retry_after), "{retry_after}");
    // MCP clients read a JSON-RPC error to their request (decision 0070).
    assert_eq!(refused.status(), 429);
    assert_eq!(refused.headers()["content-type"], "application/json");
    let answer: Value = refused.json().await.unwrap();
    assert_eq!(
        (answer["id"].as_i64(), answer["error"]["code"].as_i64()),
        (Some(3), Some(-32000)),
        "{answer}"
    );
    assert_eq!(answer["error"]["data"]["code"], "rate_limited", "{answer}");
    let garbled =
        mcp.request(Method::POST).header("content-type", "application/json").body("{\"id\": 4,").send();
    let garbled: Value = garbled.await.unwrap().json().await.unwrap();
    assert_eq!((garbled["id"].clone(), garbled["error"]["code"].as_i64()), (Value::Null, Some(-32000)));
    // What is not JSON-RPC (a GET for the event stream) gets the problem.
    let stream = mcp.request(Method::GET).header("accept", "text/event-stream").send().await.unwrap();
    assert!(stream.headers().contains_key("retry-after"));
    expect_problem(stream, 429, "rate_limited").await;
    let other = issue_key(&app, &t.key, &gid, json!({})).await["api_key"].as_str().unwrap().to_owned();
    assert_eq!(RawMcp::new(&endpoint(&app, "team"), &other).post(ping(4)).await.status(), 200, "per key");

    // Back to the configured default (100 a second, burst 200).
    expect_json(patch(json!({"key_rps": null, "key_burst": null})).await.unwrap(), 200).await;
    assert_eq!(mcp.post(ping(5)).await.status(), 200);
}

/// A tenant key (`proxy` scope) has a rate at each gateway it is used at, not one shared by
/// all of them.
#[sqlx::test]
async fn a_tenant_key_is_rate_limited_at_each_gateway_on_its_own(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let (t, team, _key, _upstream) = gateway(&app).await;
    let other = create_gateway(&app, &t.key, "other").await["id"].as_str().unwrap().to_owned();
    for gid in [&team, &other] {
        let patch = app.request(Method::PATCH, &format!("/api/v1/gateways/{gid}"), Some(&t.key));
        expect_json(patch.json(&json!({"key_rps": 1, "key_burst": 1})).send().await.unwrap(), 200).await;
    }
    let proxy_key = app.key_with_scopes(&t, &["proxy"]).await;
    let ping = json!({"jsonrpc": "2.0", "id": 1, "method": "ping"});
    let at = |slug: &str| RawMcp::new(&endpoint(&app, slug), &proxy_key);
    assert_eq!(at("team").post(ping.clone()).await.status(), 200);
    assert_eq!(at("team").post(ping.clone()).await.status(), 429, "the burst is spent at team");
    assert_eq!(at("other").post(ping.clone()).await.status(), 200, "other has a bucket of its own");
    assert_eq!(at("other").post(ping).await.status(), 429);
}

/// A request body over the proxy's limit (`proxy_max_body`, not the REST API's smaller JSON
/// limit) is refused with 413, once the caller is known.
#[sqlx::test]
async fn a_body_over_the_proxys_limit_is_refused(db: PgPool) {
    let settings = Settings { proxy_max_body: 96 * 1024, ..test_settings() };
    assert!(settings.max_json_body < 80 * 1024, "the message below is over the JSON limit");
    let state = AppState::new(db, test_keyring("test"), Presets::builtin(), settings);
    let app = TestApp::spawn_with(state).await;
    let (_t, _gid, key, _upstream) = gateway(&app).await;
    let mcp = RawMcp::new(&endpoint(&app, "team"), &key);
    let say = |message: String| json!({"name": "say", "arguments": {"message": message}});
    let said = mcp.call(1, "tools/call", say("x".repeat(80 * 1024))).await;
    assert_eq!(said["result"]["structuredContent"]["message"].as_str().map(str::len), Some(80 * 1024));
    let big =
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": say("x".repeat(100 * 1024))});
    expect_problem(mcp.post(big.clone()).await, 413, "payload_too_large").await;
    let anonymous = app.client.post(endpoint(&app, "team")).json(&big).send().await.unwrap();
    expect_problem(anonymous, 401, "unauthorized").await;
}

/// At the default log level, the gateway's answers leave no line per request (decision
/// 0015: a line per tool call costs more than it tells); its refusals do.
#[sqlx::test]
async fn a_gateways_answers_are_logged_at_debug_and_its_refusals_at_info(db: PgPool) {
    // RUST_LOG unset: the binary's default filter.
    let (sb, key) = quiet_gateway(&db, &[("RUST_LOG", "")]).await;
    let app = &sb.app;
    let mcp = RawMcp::new(&endpoint(app, "quiet"), &key);
    mcp.call(1, "tools/list", json!({})).await;
    let anonymous = RawMcp::new(&endpoint(app, "quiet"), "gk_unknown");
    assert_eq!(anonymous.post(json!({"jsonrpc": "2.0", "id": 2, "method": "ping"})).await.status(), 401);
    // Both lines, if written, were written before their answers were sent.
    let logs = sb.logs();
    let lines: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains("finished processing request") && l.contains("/gateways/quiet/mcp"))
        .collect();
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert!(lines[0].contains("status=401"), "{lines:#?}");
    // rmcp's service per request says nothing at INFO (its start, its input ending and its end: three lines a request).
    let rmcp: Vec<&str> = logs.lines().filter(|l| l.contains("rmcp")).collect();
    assert!(rmcp.is_empty(), "{rmcp:#?}");
}

/// A large gateway's `tools/list` comes in pages whose cursors are opaque (base64url of the
/// last alias shown); a cursor the gateway did not give out is invalid params.
#[sqlx::test]
async fn tools_list_pages_with_opaque_cursors_and_refuses_foreign_ones(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let catalog = many_tools(205, |i| format!("t{i:03}"));
    let (t, _upstream, connector) = setup_with(&app, "a", catalog).await;
    let gid = create_gateway(&app, &t.key, "big").await["id"].as_str().unwrap().to_owned();
    let bulk = format!("/api/v1/gateways/{gid}/tools/bulk");
    let bulk = app.post_json(&bulk, &t.key, json!({"connector_id": connector})).await;
    assert_eq!(expect_json(bulk, 200).await["added"], 205);
    let key = issue_key(&app, &t.key, &gid, json!({})).await["api_key"].as_str().unwrap().to_owned();
    let mut mcp = RawMcp::new(&endpoint(&app, "big"), &key);
    mcp.initialize().await;

    let first = mcp.call(1, "tools/list", json!({})).await;
    let cursor = first["result"]["nextCursor"].as_str().unwrap().to_owned();
    assert_eq!(tool_names(&first).len(), 200);
    let last = base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, &cursor).unwrap();
    assert_eq!(last, b"t199", "base64url of the last alias shown: {cursor}");
    let rest = mcp.call(2, "tools/list", json!({"cursor": cursor})).await;
    assert_eq!(tool_names(&rest), ["t200", "t201", "t202", "t203", "t204"]);
    assert!(rest["result"].get("nextCursor").is_none_or(Value::is_null), "{rest}");

    for (id, foreign) in [(3, "200"), (4, "not base64!"), (5, "eyJvZmZzZXQiOjIwMH0")] {
        let refused = mcp.call(id, "tools/list", json!({"cursor": foreign})).await;
        assert_eq!(refused["error"]["code"], -32602, "{foreign}: {refused}");
    }
}

/// A plain `tools/call` is answered without rmcp's per-request service (`mcp_server::direct`);
/// one whose `Accept` has a weight is rmcp's. Both must answer alike — status, content type
/// and body — in both eras, for a result, an upstream's tool error, invalid arguments and an
/// unknown tool.
#[sqlx::test]
async fn a_plain_tools_call_is_answered_as_rmcps_service_answers_it(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let (_t, _gid, key, _upstream) = gateway(&app).await;
    let mut legacy = RawMcp::new(&endpoint(&app, "team"), &key);
    legacy.initialize().await;
    let modern = RawMcp::new(&endpoint(&app, "team"), &key);
    let calls = [
        ("say", json!({"message": "hi"})),
        ("fail", json!({})),
        ("say", json!({"message": 7})),
        ("sleep", json!({"ms": 1})),
    ];
    for (name, arguments) in calls {
        let params = json!({"name": name, "arguments": arguments});
        let message = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params});
        let requests = [
            (
                "2025",
                legacy.request(Method::POST).json(&message),
                legacy.request(Method::POST).json(&message),
            ),
            ("2026", modern.modern("tools/call", Some(name), params.clone()), {
                modern.modern("tools/call", Some(name), params.clone())
            }),
        ];
        for (era, plain, weighted) in requests {
            // A second `Accept` value, with a weight: the direct path leaves such a request to rmcp.
            let weighted = weighted.header("accept", "text/event-stream;q=0.5");
            let mut answers = Vec::new();
            for request in [plain, weighted] {
                let res = request.send().await.unwrap();
                let content_type = res.headers()["content-type"].to_str().unwrap().to_owned();
                answers.push((res.status().as_u16(), content_type, res.json::<Value>().await.unwrap()));
            }
            assert_eq!(answers[0], answers[1], "{era} {name}");
            let (status, content_type, body) = &answers[0];
            assert_eq!((*status, content_type.as_str()), (200, "application/json"), "{era} {name}: {body}");
            let answered = if name == "sleep" { &body["error"]["code"] } else { &body["result"]["content"] };
            assert!(!answered.is_null(), "{era} {name}: {body}");
            let result_type = &body["result"]["resultType"];
            assert_eq!(result_type.is_null(), era == "2025" || name == "sleep", "{era} {name}: {body}");
        }
    }
}
