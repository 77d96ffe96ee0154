//! The tool catalog over real HTTP: an rmcp upstream whose tool list the test changes, a
//! legacy-SSE upstream, an OAuth upstream with a real authorization server.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::support::auth_server::{AsConfig, AuthServer};
use crate::support::legacy_sse::LegacySseServer;
use crate::support::mcp_server::{Catalog, Guard, McpServer};
use crate::support::{
    ADMIN_TOKEN, TestApp, TestTenant, connected_oauth_connector, expect_json, expect_problem,
};

const TOKEN: &str = "catalog-token";

fn object(properties: Value, required: &[&str]) -> Value {
    json!({"type": "object", "properties": properties, "required": required})
}

fn starting_tools() -> Vec<rmcp::model::Tool> {
    vec![
        Catalog::tool(
            "echo",
            "Echo the arguments",
            object(json!({"message": {"type": "string"}}), &["message"]),
        ),
        Catalog::tool("fail", "Always fails", object(json!({}), &[])),
        Catalog::tool("sleep", "Sleeps", object(json!({"ms": {"type": "integer", "minimum": 0}}), &["ms"])),
        Catalog::tool("mutate", "Adds a tool", object(json!({}), &[])),
    ]
}

/// A bearer connector to a catalog upstream, connected (which syncs it).
async fn setup_with(app: TestApp, catalog: &Catalog) -> (TestApp, TestTenant, McpServer, String) {
    let t = app.tenant("a").await;
    let upstream =
        McpServer::spawn_catalog(Guard::Authorization(format!("Bearer {TOKEN}")), catalog.clone()).await;
    let c = app
        .create_connector(&t.key, json!({"url": upstream.url, "auth": {"mode": "bearer", "token": TOKEN}}))
        .await;
    let id = c["id"].as_str().unwrap().to_owned();
    let res = app.post_json(&format!("/api/v1/connectors/{id}/connect"), &t.key, json!({})).await;
    assert_eq!(expect_json(res, 200).await["status"], "connected");
    (app, t, upstream, id)
}

async fn setup(db: PgPool, catalog: &Catalog) -> (TestApp, TestTenant, McpServer, String) {
    setup_with(TestApp::spawn(db).await, catalog).await
}

/// Due every `every`, and as soon as a list's ttlMs runs out (no floor).
fn schedule(every: Duration) -> switchboard::catalog::sync::Schedule {
    switchboard::catalog::sync::Schedule { every, ttl_floor: Duration::ZERO }
}

async fn sync(app: &TestApp, key: &str, id: &str) -> Value {
    expect_json(app.post_json(&format!("/api/v1/connectors/{id}/sync"), key, json!({})).await, 200).await
}

fn names(list: &Value) -> Vec<String> {
    list["items"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap().to_owned()).collect()
}

async fn call(app: &TestApp, key: &str, id: &str, tool: &str, arguments: Value) -> reqwest::Response {
    app.post_json(&format!("/api/v1/connectors/{id}/tools/{tool}/call"), key, json!({"arguments": arguments}))
        .await
}

#[sqlx::test]
async fn connect_syncs_and_a_resync_reports_added_updated_removed_and_unchanged(db: PgPool) {
    let catalog = Catalog::with_tools(starting_tools());
    let (app, t, _upstream, id) = setup(db, &catalog).await;

    // The connect already synced (a fast upstream finishes within the connect's wait).
    let c = app.get_json(&format!("/api/v1/connectors/{id}"), &t.key).await;
    assert!(c["tools_synced_at"].is_string(), "{c}");
    assert_eq!(c["server_info"]["name"], "switchboard-test-catalog");
    let listed = app.get_json(&format!("/api/v1/connectors/{id}/tools"), &t.key).await;
    assert_eq!(names(&listed), ["echo", "fail", "mutate", "sleep"]);

    let again = sync(&app, &t.key, &id).await;
    assert_eq!(again["unchanged"]["count"], 4, "{again}");
    assert_eq!(again["added"]["count"], 0);

    // Change a schema, a description, remove one, add one.
    let mut tools = starting_tools();
    tools[0] =
        Catalog::tool("echo", "Echo the arguments", object(json!({"message": {"type": "integer"}}), &[]));
    tools[1] = Catalog::tool("fail", "Fails, always", object(json!({}), &[]));
    tools.remove(3);
    tools.push(Catalog::tool("search", "Search things", object(json!({"query": {"type": "string"}}), &[])));
    catalog.set_tools(tools);
    let report = sync(&app, &t.key, &id).await;
    assert_eq!(report["added"], json!({"count": 1, "names": ["search"]}), "{report}");
    assert_eq!(report["updated"], json!({"count": 2, "names": ["echo", "fail"]}));
    assert_eq!(report["removed"], json!({"count": 1, "names": ["mutate"]}));
    assert_eq!(report["unchanged"], json!({"count": 1, "names": ["sleep"]}));
    assert_eq!(report["tool_count"], 4);
    assert_eq!(report["server_info"]["name"], "switchboard-test-catalog");

    let listed = app.get_json(&format!("/api/v1/connectors/{id}/tools"), &t.key).await;
    assert_eq!(names(&listed), ["echo", "fail", "search", "sleep"]);
    let echo = app.get_json(&format!("/api/v1/connectors/{id}/tools/echo"), &t.key).await;
    assert_eq!(echo["input_schema"]["properties"]["message"]["type"], "integer");
    assert_eq!(echo["description"], "Echo the arguments");
    let res = app.request(Method::GET, &format!("/api/v1/connectors/{id}/tools/mutate"), Some(&t.key));
    expect_problem(res.send().await.unwrap(), 404, "not_found").await;
}

#[sqlx::test]
async fn tools_list_is_paged_through_with_cursors_and_listed_in_pages(db: PgPool) {
    let catalog = Catalog::with_tools(
        (0..7)
            .map(|i| Catalog::tool(&format!("tool_{i}"), &format!("number {i}"), json!({"type": "object"})))
            .collect(),
    );
    catalog.set_page_size(3);
    let (app, t, _upstream, id) = setup(db, &catalog).await;
    let before = catalog.list_requests();
    let report = sync(&app, &t.key, &id).await;
    assert_eq!(report["tool_count"], 7, "{report}");
    assert_eq!(catalog.list_requests() - before, 3, "three pages of three, three and one");

    // Our own list pages by name, and `q` searches names and descriptions.
    let first = app.get_json(&format!("/api/v1/connectors/{id}/tools?limit=4"), &t.key).await;
    assert_eq!(names(&first), ["tool_0", "tool_1", "tool_2", "tool_3"]);
    let cursor = first["next_cursor"].as_str().unwrap();
    let rest = app.get_json(&format!("/api/v1/connectors/{id}/tools?limit=4&cursor={cursor}"), &t.key).await;
    assert_eq!(names(&rest), ["tool_4", "tool_5", "tool_6"]);
    assert!(rest["next_cursor"].is_null());
    let found = app.get_json(&format!("/api/v1/connectors/{id}/tools?q=NUMBER%205"), &t.key).await;
    assert_eq!(names(&found), ["tool_5"]);
    let none = app.get_json(&format!("/api/v1/connectors/{id}/tools?q=%25"), &t.key).await;
    assert_eq!(names(&none), Vec::<String>::new(), "% is searched for literally");
}

#[sqlx::test]
async fn a_catalog_over_the_bound_is_refused_and_nothing_is_written(db: PgPool) {
    let catalog = Catalog::with_tools(starting_tools());
    let (app, t, _upstream, id) = setup(db, &catalog).await;
    catalog.set_page_size(500);
    catalog.set_tools(
        (0..2001).map(|i| Catalog::tool(&format!("t{i}"), "x", json!({"type": "object"}))).collect(),
    );
    let res = app.post_json(&format!("/api/v1/connectors/{id}/sync"), &t.key, json!({})).await;
    let problem = expect_problem(res, 502, "tool_catalog_too_large").await;
    assert!(problem["detail"].as_str().unwrap().contains("2000"), "{problem}");
    let listed = app.get_json(&format!("/api/v1/connectors/{id}/tools"), &t.key).await;
    assert_eq!(names(&listed), ["echo", "fail", "mutate", "sleep"], "the old catalog stands");
}

#[sqlx::test]
async fn a_list_changed_notification_during_a_call_triggers_a_resync(db: PgPool) {
    let catalog = Catalog::with_tools(starting_tools());
    let (app, t, _upstream, id) = setup(db, &catalog).await;
    let res = call(&app, &t.key, &id, "mutate", json!({})).await;
    assert_eq!(expect_json(res, 200).await["content"][0]["text"], "mutated");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let listed = app.get_json(&format!("/api/v1/connectors/{id}/tools"), &t.key).await;
        if names(&listed).contains(&"added".to_owned()) {
            break;
        }
        assert!(Instant::now() < deadline, "no resync after list_changed: {listed}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[sqlx::test]
async fn bad_arguments_are_refused_without_calling_the_upstream(db: PgPool) {
    let catalog = Catalog::with_tools(starting_tools());
    let (app, t, _upstream, id) = setup(db, &catalog).await;
    let res = call(&app, &t.key, &id, "echo", json!({"message": 42, "extra": true})).await;
    let problem = expect_problem(res, 400, "validation_failed").await;
    assert_eq!(problem["errors"][0]["field"], "arguments/message", "{problem}");
    let res = call(&app, &t.key, &id, "sleep", json!({})).await;
    let problem = expect_problem(res, 400, "validation_failed").await;
    assert!(problem["errors"][0]["message"].as_str().unwrap().contains("ms"), "{problem}");
    assert!(catalog.calls().is_empty(), "the upstream saw no call: {:?}", catalog.calls());

    let res = call(&app, &t.key, &id, "nope", json!({})).await;
    expect_problem(res, 404, "not_found").await;
    let log =
        app.get_json(&format!("/api/v1/connectors/{id}/tool-calls?status=invalid_arguments"), &t.key).await;
    assert_eq!(log["items"].as_array().unwrap().len(), 2, "{log}");
}

#[sqlx::test]
async fn results_and_tool_errors_pass_through_and_every_call_is_logged(db: PgPool) {
    let catalog = Catalog::with_tools(starting_tools());
    let (app, t, _upstream, id) = setup(db, &catalog).await;
    let res = call(&app, &t.key, &id, "echo", json!({"message": "hello"})).await;
    let ok = expect_json(res, 200).await;
    assert_eq!(ok["structuredContent"], json!({"message": "hello"}), "{ok}");
    assert_eq!(ok["isError"], false);
    assert!(ok["duration_ms"].is_u64());
    let res = call(&app, &t.key, &id, "fail", json!({})).await;
    let failed = expect_json(res, 200).await;
    assert_eq!(failed["isError"], true, "{failed}");
    assert_eq!(failed["content"][0]["text"], "it failed");
    assert_eq!(catalog.calls(), ["echo", "fail"]);

    let log = app.get_json(&format!("/api/v1/connectors/{id}/tool-calls"), &t.key).await;
    let items = log["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{log}");
    assert_eq!(
        (items[0]["tool_name"].as_str(), items[0]["status"].as_str()),
        (Some("fail"), Some("tool_error"))
    );
    assert_eq!((items[1]["tool_name"].as_str(), items[1]["status"].as_str()), (Some("echo"), Some("ok")));
    assert!(items[1]["arguments"].is_null(), "payloads are not logged by default");
    assert!(items[1]["response_bytes"].as_i64().unwrap() > 0);
    assert!(items[0]["api_key_id"].is_string());
    let only_errors =
        app.get_json(&format!("/api/v1/connectors/{id}/tool-calls?status=tool_error"), &t.key).await;
    assert_eq!(only_errors["items"].as_array().unwrap().len(), 1);
    let future =
        app.get_json(&format!("/api/v1/connectors/{id}/tool-calls?since=2999-01-01T00:00:00Z"), &t.key).await;
    assert!(future["items"].as_array().unwrap().is_empty());
    let page = app.get_json(&format!("/api/v1/connectors/{id}/tool-calls?limit=1"), &t.key).await;
    let cursor = page["next_cursor"].as_str().unwrap();
    let next =
        app.get_json(&format!("/api/v1/connectors/{id}/tool-calls?limit=1&cursor={cursor}"), &t.key).await;
    assert_eq!(next["items"][0]["tool_name"], "echo");

    // With the tenant's setting on, arguments and results are kept.
    let patch = app.request(Method::PATCH, &format!("/api/v1/admin/tenants/{}", t.id), Some(ADMIN_TOKEN));
    let tenant =
        expect_json(patch.json(&json!({"log_tool_payloads": true})).send().await.unwrap(), 200).await;
    assert_eq!(tenant["log_tool_payloads"], true);
    expect_json(call(&app, &t.key, &id, "echo", json!({"message": "kept"})).await, 200).await;
    let log = app.get_json(&format!("/api/v1/connectors/{id}/tool-calls?limit=1"), &t.key).await;
    assert!(log["items"][0]["arguments"].as_str().unwrap().contains("kept"), "{log}");
    assert!(log["items"][0]["result"].as_str().unwrap().contains("kept"));
}

#[sqlx::test]
async fn a_call_past_the_timeout_is_a_504_and_logged(db: PgPool) {
    let catalog = Catalog::with_tools(starting_tools());
    let app = TestApp::spawn_public(db, |s| s.tool_call_timeout = Duration::from_millis(500)).await;
    let (app, t, _upstream, id) = setup_with(app, &catalog).await;
    let res = call(&app, &t.key, &id, "sleep", json!({"ms": 5000})).await;
    expect_problem(res, 504, "upstream_timeout").await;
    let log = app.get_json(&format!("/api/v1/connectors/{id}/tool-calls"), &t.key).await;
    assert_eq!(log["items"][0]["status"], "timeout", "{log}");
}

#[sqlx::test]
async fn calls_need_the_proxy_scope_and_other_tenants_see_nothing(db: PgPool) {
    let catalog = Catalog::with_tools(starting_tools());
    let (app, t, _upstream, id) = setup(db, &catalog).await;
    let read_only = app.key_with_scopes(&t, &["read"]).await;
    expect_problem(
        call(&app, &read_only, &id, "echo", json!({"message": "x"})).await,
        403,
        "insufficient_scope",
    )
    .await;
    let other = app.tenant("b").await;
    for (method, path) in [
        (Method::POST, format!("/api/v1/connectors/{id}/sync")),
        (Method::GET, format!("/api/v1/connectors/{id}/tools")),
        (Method::GET, format!("/api/v1/connectors/{id}/tools/echo")),
        (Method::POST, format!("/api/v1/connectors/{id}/tools/echo/call")),
        (Method::GET, format!("/api/v1/connectors/{id}/tool-calls")),
    ] {
        let res = app.request(method, &path, Some(&other.key)).send().await.unwrap();
        expect_problem(res, 404, "not_found").await;
    }
    assert!(catalog.calls().is_empty());
}

#[sqlx::test]
async fn a_legacy_sse_upstream_syncs_through_the_same_client(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let t = app.tenant("a").await;
    let upstream = LegacySseServer::spawn(Some("Bearer legacy-token"), None).await;
    let c = app
        .create_connector(
            &t.key,
            json!({"url": upstream.url, "transport": "sse", "auth": {"mode": "bearer", "token": "legacy-token"}}),
        )
        .await;
    let id = c["id"].as_str().unwrap();
    let res = app.post_json(&format!("/api/v1/connectors/{id}/connect"), &t.key, json!({})).await;
    assert_eq!(expect_json(res, 200).await["status"], "connected");
    let report = sync(&app, &t.key, id).await;
    assert_eq!(report["server_info"]["name"], "legacy-sse-test", "{report}");
    let listed = app.get_json(&format!("/api/v1/connectors/{id}/tools"), &t.key).await;
    assert_eq!(names(&listed), ["echo"]);
    let res = call(&app, &t.key, id, "echo", json!({"said": "over sse"})).await;
    let result = expect_json(res, 200).await;
    assert_eq!(result["content"][0]["text"], json!({"said": "over sse"}).to_string(), "{result}");
    assert_eq!(result["isError"], false);
}

#[sqlx::test]
async fn syncing_an_oauth_connector_with_an_expired_token_refreshes_first(db: PgPool) {
    let app = TestApp::spawn_public(db.clone(), |_| {}).await;
    let t = app.tenant("a").await;
    let auth_server = AuthServer::spawn(AsConfig::default()).await;
    let catalog = Catalog::with_tools(starting_tools());
    let upstream =
        McpServer::spawn_catalog(Guard::OAuth { server: auth_server.clone(), scope: None }, catalog).await;
    let id = connected_oauth_connector(&app, &t.key, &upstream.url).await;
    sqlx::query("UPDATE connectors SET token_expires_at = now() - interval '1 second'")
        .execute(&db)
        .await
        .unwrap();
    auth_server.state.lock().unwrap().access_tokens.clear(); // the old token would fail
    let refreshes = || auth_server.state.lock().unwrap().token_requests_of("refresh_token").len();
    assert_eq!(refreshes(), 0);
    let report = sync(&app, &t.key, &id).await;
    assert_eq!(report["tool_count"], 4, "{report}");
    assert_eq!(refreshes(), 1, "one refresh, before the first request");
    let c = app.get_json(&format!("/api/v1/connectors/{id}"), &t.key).await;
    assert_eq!(c["status"], "connected");
}

#[sqlx::test]
async fn a_disconnected_connector_cannot_sync(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let t = app.tenant("a").await;
    let c = app
        .create_connector(&t.key, json!({"url": "http://127.0.0.1:9/mcp", "auth": {"mode": "none"}}))
        .await;
    let id = c["id"].as_str().unwrap();
    let res = app.post_json(&format!("/api/v1/connectors/{id}/sync"), &t.key, json!({})).await;
    expect_problem(res, 409, "connector_not_connected").await;
}

#[sqlx::test]
async fn the_periodic_resync_picks_up_changes_once_per_lease(db: PgPool) {
    let catalog = Catalog::with_tools(starting_tools());
    let (app, t, _upstream, id) = setup(db, &catalog).await;
    catalog.set_tools(vec![Catalog::tool("only", "the one left", json!({"type": "object"}))]);
    let ctx = app.state.catalog();
    let resync_due =
        || switchboard::catalog::sync::resync_due(&ctx, schedule(Duration::ZERO), &app.state.shutdown);
    assert_eq!(resync_due().await.unwrap(), 1);
    let listed = app.get_json(&format!("/api/v1/connectors/{id}/tools"), &t.key).await;
    assert_eq!(names(&listed), ["only"]);
    assert_eq!(resync_due().await.unwrap(), 0, "claimed connectors wait for their lease to lapse");
}

#[sqlx::test]
async fn a_lists_ttl_schedules_the_next_resync_above_a_floor(db: PgPool) {
    use switchboard::catalog::sync::{Schedule, resync_due};
    let catalog = Catalog::with_tools(starting_tools());
    catalog.set_ttl_ms(Some(3_600_000));
    let (app, t, _upstream, id) = setup(db, &catalog).await;
    sync(&app, &t.key, &id).await;
    let stored = || async {
        sqlx::query_scalar::<_, Option<i64>>("SELECT tools_ttl_ms FROM connectors")
            .fetch_one(&app.state.db)
            .await
            .unwrap()
    };
    assert_eq!(stored().await, Some(3_600_000));
    let (ctx, shutdown) = (app.state.catalog(), &app.state.shutdown);
    let hour = Duration::from_secs(3600);
    let due = |every, ttl_floor| resync_due(&ctx, Schedule { every, ttl_floor }, shutdown);
    assert_eq!(
        due(Duration::ZERO, Duration::ZERO).await.unwrap(),
        0,
        "fresh for its ttl, though `every` passed"
    );

    catalog.set_ttl_ms(Some(0));
    sync(&app, &t.key, &id).await;
    assert_eq!(stored().await, Some(0));
    let before = catalog.list_requests();
    assert_eq!(due(hour, hour).await.unwrap(), 0, "never sooner than the floor");
    assert_eq!(due(hour, Duration::ZERO).await.unwrap(), 1, "its ttl ran out before `every`");
    assert_eq!(catalog.list_requests(), before + 1);
}

#[sqlx::test]
async fn every_auth_mode_syncs_and_calls_with_its_credential(db: PgPool) {
    use base64::Engine as _;
    let app = TestApp::spawn(db).await;
    let t = app.tenant("a").await;
    let auth_server = AuthServer::spawn(AsConfig::default()).await;
    auth_server.preregister("machine", Some("machine-secret"), "client_secret_post", "http://unused");
    let basic = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("svc:pa:ss"));
    let cases = [
        (Guard::Authorization(basic), json!({"mode": "basic", "username": "svc", "password": "pa:ss"})),
        (
            Guard::Header("x-api-key", "key-9".into()),
            json!({"mode": "header", "header_name": "X-Api-Key", "value": "key-9"}),
        ),
        (Guard::Open, json!({"mode": "none"})),
        (
            Guard::OAuth { server: auth_server.clone(), scope: Some("tools") },
            json!({"mode": "oauth2_client_credentials", "client_id": "machine", "client_secret": "machine-secret",
                   "token_endpoint_auth_method": "client_secret_post"}),
        ),
    ];
    for (guard, auth) in cases {
        let catalog = Catalog::with_tools(starting_tools());
        let upstream = McpServer::spawn_catalog(guard, catalog.clone()).await;
        let c = app.create_connector(&t.key, json!({"url": upstream.url, "auth": auth})).await;
        let id = c["id"].as_str().unwrap();
        let res = app.post_json(&format!("/api/v1/connectors/{id}/connect"), &t.key, json!({})).await;
        assert_eq!(expect_json(res, 200).await["status"], "connected", "{auth}");
        assert_eq!(sync(&app, &t.key, id).await["tool_count"], 4, "{auth}");
        let res = call(&app, &t.key, id, "echo", json!({"message": "hi"})).await;
        assert_eq!(expect_json(res, 200).await["structuredContent"]["message"], "hi", "{auth}");
        assert_eq!(catalog.calls(), ["echo"], "{auth}");
    }
}

#[sqlx::test]
async fn a_server_without_the_tools_capability_has_an_empty_catalog(db: PgPool) {
    let catalog = Catalog::with_tools(starting_tools()).without_tools_capability();
    let (app, t, _upstream, id) = setup(db, &catalog).await;
    let report = sync(&app, &t.key, &id).await;
    assert_eq!(report["tool_count"], 0, "{report}");
    assert_eq!(catalog.list_requests(), 0, "tools/list was not asked");
}

#[sqlx::test]
async fn nul_characters_are_refused_where_they_come_from(db: PgPool) {
    let catalog = Catalog::with_tools(starting_tools());
    let (app, t, _upstream, id) = setup(db, &catalog).await;
    let before = names(&app.get_json(&format!("/api/v1/connectors/{id}/tools"), &t.key).await);

    // From the caller: a 400 (query) or an unknown tool, never a database error.
    let res =
        app.request(Method::GET, &format!("/api/v1/connectors/{id}/tools?q=%00"), Some(&t.key)).send().await;
    let problem = expect_problem(res.unwrap(), 400, "validation_failed").await;
    assert_eq!(problem["errors"][0]["field"], "q");
    let res =
        app.request(Method::GET, &format!("/api/v1/connectors/{id}/tools/a%00b"), Some(&t.key)).send().await;
    assert_eq!(res.unwrap().status(), 404);

    // From the upstream: a protocol error, and the stored catalog is left as it was.
    catalog.set_tools(vec![Catalog::tool("nul", "a description with \0 inside", json!({"type": "object"}))]);
    let res = app.post_json(&format!("/api/v1/connectors/{id}/sync"), &t.key, json!({})).await;
    expect_problem(res, 502, "upstream_protocol_error").await;
    assert_eq!(names(&app.get_json(&format!("/api/v1/connectors/{id}/tools"), &t.key).await), before);
}
