//! REST connectors (issue 15): the seed's Ticket System descriptor against a real REST API
//! on 127.0.0.1 — create (JSON and YAML), validation, sealed credentials, connect through the
//! test endpoint, the generated tools, direct calls, rate limits and timeouts.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::support::rest_api::{API_KEY, TicketApi, USER_KEY};
use crate::support::{TestApp, expect_json, expect_problem};

/// `descriptor` as a YAML request body creating a REST connector with `api_key`.
fn yaml_body(descriptor_yaml: &str, api_key: &str) -> String {
    let indented: String = descriptor_yaml.lines().map(|l| format!("  {l}\n")).collect();
    format!("kind: rest\ncredentials:\n  api_key: \"{api_key}\"\ndescriptor:\n{indented}")
}

async fn create(app: &TestApp, key: &str, body: Value) -> reqwest::Response {
    app.post_json("/api/v1/connectors", key, body).await
}

/// A connected Ticket System connector for `descriptor`; its id.
async fn connected(app: &TestApp, key: &str, descriptor: Value) -> String {
    let body = json!({"kind": "rest", "descriptor": descriptor, "credentials": {"api_key": API_KEY}});
    let created = expect_json(create(app, key, body).await, 201).await;
    let id = created["id"].as_str().unwrap().to_owned();
    let res = app.post_json(&format!("/api/v1/connectors/{id}/connect"), key, json!({})).await;
    assert_eq!(expect_json(res, 200).await["status"], "connected");
    id
}

async fn call(app: &TestApp, key: &str, id: &str, tool: &str, arguments: Value) -> Value {
    let path = format!("/api/v1/connectors/{id}/tools/{tool}/call");
    expect_json(app.post_json(&path, key, json!({ "arguments": arguments })).await, 200).await
}

#[sqlx::test]
async fn a_yaml_descriptor_makes_a_rest_connector_whose_credentials_are_never_echoed(db: PgPool) {
    let api = TicketApi::spawn().await;
    let app = TestApp::spawn(db).await;
    let tenant = app.tenant("acme").await;
    let res = app
        .request(Method::POST, "/api/v1/connectors", Some(&tenant.key))
        .header("content-type", "application/yaml")
        .body(yaml_body(&api.ticket_system_yaml(), API_KEY))
        .send()
        .await
        .unwrap();
    let text = res.text().await.unwrap();
    assert!(!text.contains(API_KEY), "the credential is not echoed: {text}");
    let created: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(created["kind"], "rest", "{created}");
    assert_eq!(created["name"], "Ticket System");
    assert_eq!(created["url"], format!("{}/", api.base));
    assert_eq!(created["credential_fields"], json!(["api_key"]));
    assert_eq!(created["descriptor"]["operations"].as_array().unwrap().len(), 3);
    assert_eq!(created["status"], "created");
    let id = created["id"].as_str().unwrap();
    let read = app.get_json(&format!("/api/v1/connectors/{id}"), &tenant.key).await;
    assert_eq!(
        (read["descriptor"].clone(), read["credential_fields"].clone()),
        (created["descriptor"].clone(), json!(["api_key"]))
    );
    assert!(!read.to_string().contains(API_KEY));
    let stored: Vec<u8> =
        sqlx::query_scalar("SELECT ciphertext FROM connector_secrets WHERE connector_id = $1::uuid")
            .bind(id)
            .fetch_one(&app.state.db)
            .await
            .unwrap();
    assert!(!String::from_utf8_lossy(&stored).contains(API_KEY), "sealed, not stored in clear");
}

#[sqlx::test]
async fn a_bad_descriptor_names_every_problem_and_saves_nothing(db: PgPool) {
    let app = TestApp::spawn_public(db, |s| s.allow_private_networks = false).await;
    let tenant = app.tenant("acme").await;
    let mut descriptor = TicketApi::at("https://tickets.example.com").ticket_system();
    descriptor["operations"][1]["endpoint"] = json!("http://10.0.0.7/api/v1/tickets/{id}");
    descriptor["operations"][2]["auth_headers"]["X-API-Key"] = json!("{apikey}");
    descriptor["mcp_config"]["route_mappings"][1]["mcp_tool_name"] = json!("search_tickets");
    descriptor["mcp_config"]["route_mappings"][2]["operation_id"] = json!("close_ticket");
    descriptor["mcp_config"]["server_name"] = Value::Null;
    descriptor["operations"][0]["parameters"][0]["requried"] = json!(true);
    let body = json!({"kind": "rest", "descriptor": descriptor, "credentials": {"token": "t"}});
    let problem = expect_problem(create(&app, &tenant.key, body).await, 400, "validation_failed").await;
    let fields: Vec<&str> =
        problem["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    for field in [
        "descriptor.operations[0].parameters[0].requried",
        "descriptor.operations[1].endpoint",
        "descriptor.operations[2].auth_headers.X-API-Key",
        "descriptor.mcp_config.route_mappings[1].mcp_tool_name",
        "descriptor.mcp_config.route_mappings[2].operation_id",
        "descriptor.mcp_config.server_name",
        "credentials.token",
    ] {
        assert!(fields.iter().any(|f| f.starts_with(field)), "{field} in {fields:?}");
    }
    let private = problem["errors"].as_array().unwrap().iter().any(|e| {
        e["field"] == "descriptor.operations[1].endpoint"
            && e["message"].as_str().unwrap().starts_with("destination not allowed")
    });
    assert!(private, "the SSRF rule is one of the problems: {problem}");
    let list = app.get_json("/api/v1/connectors", &tenant.key).await;
    assert_eq!(list["items"], json!([]), "nothing saved");
    let mcp_with_descriptor =
        json!({"url": "https://mcp.example.com/mcp", "descriptor": {}, "discover": false});
    expect_problem(create(&app, &tenant.key, mcp_with_descriptor).await, 400, "validation_failed").await;
}

#[sqlx::test]
async fn connect_runs_the_test_endpoint_with_the_credentials(db: PgPool) {
    let api = TicketApi::spawn().await;
    let app = TestApp::spawn(db).await;
    let tenant = app.tenant("acme").await;
    let body =
        json!({"kind": "rest", "descriptor": api.ticket_system(), "credentials": {"api_key": "wrong"}});
    let created = expect_json(create(&app, &tenant.key, body).await, 201).await;
    let id = created["id"].as_str().unwrap();
    let res = app.post_json(&format!("/api/v1/connectors/{id}/connect"), &tenant.key, json!({})).await;
    let problem = expect_problem(res, 422, "credentials_rejected").await;
    assert!(problem["detail"].as_str().unwrap().contains("HTTP 401"), "{problem}");
    let seen = api.seen();
    assert_eq!((seen[0].path.as_str(), seen[0].api_key.as_deref()), ("/api/v1/me", Some("wrong")));
    let read = app.get_json(&format!("/api/v1/connectors/{id}"), &tenant.key).await;
    assert_eq!(read["status"], "created", "a failed connect changes nothing");

    let patch = json!({"credentials": {"api_key": API_KEY}});
    let res = app
        .request(Method::PATCH, &format!("/api/v1/connectors/{id}"), Some(&tenant.key))
        .json(&patch)
        .send()
        .await
        .unwrap();
    let patched = expect_json(res, 200).await;
    assert_eq!(patched["credential_fields"], json!(["api_key"]));
    let res = app.post_json(&format!("/api/v1/connectors/{id}/connect"), &tenant.key, json!({})).await;
    let connected = expect_json(res, 200).await;
    assert_eq!(connected["status"], "connected");
    assert_eq!(connected["server_info"]["name"], "ticket_system");
    assert_eq!(api.seen().last().unwrap().api_key.as_deref(), Some(API_KEY));
}

#[sqlx::test]
async fn route_mappings_become_tools_that_call_the_api(db: PgPool) {
    let api = TicketApi::spawn().await;
    let app = TestApp::spawn(db).await;
    let tenant = app.tenant("acme").await;
    let mut descriptor = api.ticket_system();
    descriptor["mcp_config"]["route_mappings"][1]["parameter_mappings"] = json!({"ticket_id": "id"});
    let id = connected(&app, &tenant.key, descriptor).await;

    let tools = app.get_json(&format!("/api/v1/connectors/{id}/tools"), &tenant.key).await;
    let names: Vec<&str> =
        tools["items"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["create_ticket", "get_ticket", "search_tickets"]);
    let detail = app.get_json(&format!("/api/v1/connectors/{id}/tools/get_ticket"), &tenant.key).await;
    assert_eq!(detail["input_schema"]["required"], json!(["id"]), "{detail}");
    assert_eq!(detail["input_schema"]["properties"]["id"]["type"], "string");
    let search = app.get_json(&format!("/api/v1/connectors/{id}/tools/search_tickets"), &tenant.key).await;
    assert_eq!(search["input_schema"]["properties"]["limit"]["default"], 25);

    let found = call(&app, &tenant.key, &id, "search_tickets", json!({"status": "open"})).await;
    assert_eq!(found["isError"], false, "{found}");
    assert_eq!(found["structuredContent"]["result"][0]["id"], "T-1");
    let one = call(&app, &tenant.key, &id, "get_ticket", json!({"id": "T 1/2"})).await;
    assert_eq!(one["structuredContent"]["id"], "T 1/2", "{one}");
    let made = call(&app, &tenant.key, &id, "create_ticket", json!({"title": "Fax jammed"})).await;
    assert_eq!(made["structuredContent"]["id"], "T-100", "{made}");
    let missing = call(&app, &tenant.key, &id, "get_ticket", json!({"id": "missing"})).await;
    assert_eq!(missing["isError"], true);
    assert!(missing["content"][0]["text"].as_str().unwrap().starts_with("HTTP 404: "), "{missing}");

    let calls = api.calls();
    assert_eq!(calls.len(), 4, "{calls:?}");
    assert_eq!((calls[0].method.as_str(), calls[0].path.as_str()), ("GET", "/api/v1/tickets"));
    assert_eq!(calls[0].query.as_deref(), Some("status=open&limit=25"));
    assert_eq!(calls[1].path, "/api/v1/tickets/T%201%2F2", "one percent-encoded segment");
    assert_eq!(calls[2].method, "POST");
    assert_eq!(calls[2].body, Some(json!({"title": "Fax jammed", "priority": "medium"})));
    assert_eq!(calls[2].content_type.as_deref(), Some("application/json"));
    assert!(calls.iter().all(|c| c.api_key.as_deref() == Some(API_KEY)), "the key is injected");

    let bad = app
        .post_json(
            &format!("/api/v1/connectors/{id}/tools/get_ticket/call"),
            &tenant.key,
            json!({"arguments": {}}),
        )
        .await;
    expect_problem(bad, 400, "validation_failed").await;
    let log = app.get_json(&format!("/api/v1/connectors/{id}/tool-calls"), &tenant.key).await;
    assert_eq!(log["items"].as_array().unwrap().len(), 5, "every call is logged");
}

#[sqlx::test]
async fn a_changed_descriptor_changes_the_tools(db: PgPool) {
    let api = TicketApi::spawn().await;
    let app = TestApp::spawn(db).await;
    let tenant = app.tenant("acme").await;
    let mut descriptor = api.ticket_system();
    let id = connected(&app, &tenant.key, descriptor.clone()).await;
    descriptor["mcp_config"]["route_mappings"].as_array_mut().unwrap().truncate(1);
    descriptor["mcp_config"]["route_mappings"][0]["mcp_tool_name"] = json!("find_tickets");
    let path = format!("/api/v1/connectors/{id}");
    let res = app
        .request(Method::PATCH, &path, Some(&tenant.key))
        .json(&json!({"descriptor": descriptor}))
        .send()
        .await
        .unwrap();
    let patched = expect_json(res, 200).await;
    assert_eq!(
        (patched["status"].clone(), patched["credential_fields"].clone()),
        (json!("connected"), json!(["api_key"]))
    );
    let tools = app.get_json(&format!("/api/v1/connectors/{id}/tools"), &tenant.key).await;
    let names: Vec<&str> =
        tools["items"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["find_tickets"], "the catalog follows the descriptor");
    let found = call(&app, &tenant.key, &id, "find_tickets", json!({})).await;
    assert_eq!(found["isError"], false, "the cached tools were dropped with the old descriptor: {found}");
}

#[sqlx::test]
async fn stored_credentials_do_not_follow_a_descriptor_to_another_host(db: PgPool) {
    let (api, elsewhere) = (TicketApi::spawn().await, TicketApi::spawn().await);
    let app = TestApp::spawn(db).await;
    let tenant = app.tenant("acme").await;
    let id = connected(&app, &tenant.key, api.ticket_system()).await;
    let path = format!("/api/v1/connectors/{id}");
    let patch = |body: Value| app.request(Method::PATCH, &path, Some(&tenant.key)).json(&body).send();
    let moved = patch(json!({"descriptor": elsewhere.ticket_system()})).await.unwrap();
    let problem = expect_json(moved, 400).await;
    assert_eq!(problem["errors"][0]["field"], "credentials.api_key", "{problem}");
    let search = call(&app, &tenant.key, &id, "search_tickets", json!({})).await;
    assert_eq!(search["isError"], false, "nothing was saved: {search}");
    assert!(elsewhere.seen().is_empty(), "the other host got nothing: {:?}", elsewhere.seen());
    let regiven = json!({"descriptor": elsewhere.ticket_system(), "credentials": {"api_key": API_KEY}});
    expect_json(patch(regiven).await.unwrap(), 200).await;
    assert_eq!(call(&app, &tenant.key, &id, "search_tickets", json!({})).await["isError"], false);
    assert_eq!(elsewhere.calls().len(), 1, "given again, the credential goes to the new host");
}

#[sqlx::test]
async fn rate_limits_answer_a_tool_error_after_the_limit(db: PgPool) {
    let api = TicketApi::spawn().await;
    let app = TestApp::spawn(db).await;
    let tenant = app.tenant("acme").await;
    let mut descriptor = api.ticket_system();
    descriptor["rate_limits"] = json!([{"scope": "per_account", "limit": 2, "interval_seconds": 3600}]);
    let id = connected(&app, &tenant.key, descriptor).await;
    let replica = app.replica().await;
    for app in [&app, &replica] {
        assert_eq!(call(app, &tenant.key, &id, "search_tickets", json!({})).await["isError"], false);
    }
    let limited = call(&replica, &tenant.key, &id, "search_tickets", json!({})).await;
    assert_eq!(limited["isError"], true, "{limited}");
    assert!(
        limited["content"][0]["text"]
            .as_str()
            .unwrap()
            .starts_with("rate limited: at most 2 calls per 3600 s")
    );
    assert_eq!(api.calls().len(), 2, "the third call never reached the API");
}

#[sqlx::test]
async fn an_api_that_hangs_times_out_as_a_tool_error(db: PgPool) {
    let api = TicketApi::spawn().await;
    let app = TestApp::spawn_public(db, |s| s.tool_call_timeout = Duration::from_millis(500)).await;
    let tenant = app.tenant("acme").await;
    let mut descriptor = api.ticket_system();
    descriptor["operations"][0]["endpoint"] = json!(format!("{}/api/v1/hang", api.base));
    let id = connected(&app, &tenant.key, descriptor).await;
    let started = std::time::Instant::now();
    let result = call(&app, &tenant.key, &id, "search_tickets", json!({})).await;
    assert_eq!(result["isError"], true);
    assert!(
        result["content"][0]["text"].as_str().unwrap().contains("did not answer within 500ms"),
        "{result}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[sqlx::test]
async fn a_rest_connectors_mcp_endpoint_lists_its_tools_and_other_tenants_cannot_see_it(db: PgPool) {
    let api = TicketApi::spawn().await;
    let app = TestApp::spawn(db).await;
    let (tenant, other) = (app.tenant("acme").await, app.tenant("other").await);
    let id = connected(&app, &tenant.key, api.ticket_system()).await;
    let mcp = app
        .request(Method::POST, &format!("/api/v1/connectors/{id}/mcp"), Some(&tenant.key))
        .header("accept", "application/json, text/event-stream")
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}))
        .send()
        .await
        .unwrap();
    let list = crate::support::raw_mcp::response_to(mcp, 1).await;
    assert_eq!(list["result"]["tools"].as_array().unwrap().len(), 3, "served by Switchboard: {list}");
    let res =
        app.request(Method::GET, &format!("/api/v1/connectors/{id}"), Some(&other.key)).send().await.unwrap();
    expect_problem(res, 404, "not_found").await;
    let res = app
        .post_json(&format!("/api/v1/connectors/{id}/tools/search_tickets/call"), &other.key, json!({}))
        .await;
    expect_problem(res, 404, "not_found").await;
    let patch = json!({"credentials": {"api_key": "x"}});
    let res = app
        .request(Method::PATCH, &format!("/api/v1/connectors/{id}"), Some(&other.key))
        .json(&patch)
        .send()
        .await
        .unwrap();
    expect_problem(res, 404, "not_found").await;
}

/// A caller's own token (`X-Switchboard-User-Token`) stands in for the stored API key, on a
/// server made for that call (the cached one, warm, is not used); the next call without one
/// sends the stored key again. A malformed token is 400 and sends nothing; a tool whose auth
/// type has no single token slot, or an MCP connector, refuses one with 422.
#[sqlx::test]
async fn a_user_token_is_sent_instead_of_the_stored_credential(db: PgPool) {
    let api = TicketApi::spawn().await;
    let app = TestApp::spawn(db).await;
    let tenant = app.tenant("acme").await;
    let id = connected(&app, &tenant.key, api.ticket_system()).await;
    let as_user = |tool: &str, token: &[u8]| {
        app.request(Method::POST, &format!("/api/v1/connectors/{id}/tools/{tool}/call"), Some(&tenant.key))
            .header("x-switchboard-user-token", reqwest::header::HeaderValue::from_bytes(token).unwrap())
            .json(&json!({"arguments": {"ticket_id": "T-7"}}))
            .send()
    };
    let stored = call(&app, &tenant.key, &id, "search_tickets", json!({})).await;
    assert_eq!(stored["isError"], false, "{stored}");
    let mine = expect_json(as_user("get_ticket", USER_KEY.as_bytes()).await.unwrap(), 200).await;
    assert_eq!(mine["structuredContent"]["id"], "T-7", "{mine}");
    let wrong = expect_json(as_user("get_ticket", b"tk_someone_else").await.unwrap(), 200).await;
    assert_eq!(wrong["isError"], true, "the API refused it: {wrong}");
    let again = call(&app, &tenant.key, &id, "search_tickets", json!({})).await;
    assert_eq!(again["isError"], false, "{again}");
    let keys: Vec<Option<String>> = api.calls().into_iter().map(|c| c.api_key).collect();
    let expected = [API_KEY, USER_KEY, "tk_someone_else", API_KEY].map(|k| Some(k.to_owned()));
    assert_eq!(keys, expected);

    let long = vec![b'x'; 4097];
    for bad in [&b""[..], b"two words", b"t\xc3\xb6k", &long] {
        let problem =
            expect_problem(as_user("get_ticket", bad).await.unwrap(), 400, "invalid_user_token").await;
        assert!(!problem["detail"].as_str().unwrap().contains("two words"), "never echoed: {problem}");
    }
    assert_eq!(api.calls().len(), 4, "nothing was sent for a malformed token");
    let log = app.get_json(&format!("/api/v1/connectors/{id}/tool-calls"), &tenant.key).await;
    assert!(!log.to_string().contains(USER_KEY), "never logged: {log}");

    // Two secret fields: which one a user token would be is anyone's guess.
    let mut descriptor = api.ticket_system();
    let fields = descriptor["authentication"][0]["fields"].as_array_mut().unwrap();
    fields.push(json!({"key": "api_secret", "field_type": "secret", "required": false}));
    let ambiguous = connected(&app, &tenant.key, descriptor).await;
    let path = format!("/api/v1/connectors/{ambiguous}/tools/get_ticket/call");
    let res = app
        .request(Method::POST, &path, Some(&tenant.key))
        .header("x-switchboard-user-token", USER_KEY)
        .json(&json!({"arguments": {"ticket_id": "T-7"}}))
        .send()
        .await
        .unwrap();
    expect_problem(res, 422, "user_token_unsupported").await;

    let (t2, _upstream, mcp) = super::gateway::setup(&app, "other").await;
    let res = app
        .request(Method::POST, &format!("/api/v1/connectors/{mcp}/tools/echo/call"), Some(&t2.key))
        .header("x-switchboard-user-token", USER_KEY)
        .json(&json!({"arguments": {"message": "hi"}}))
        .send()
        .await
        .unwrap();
    expect_problem(res, 422, "user_token_unsupported").await;
    let res = app
        .request(Method::POST, &format!("/api/v1/connectors/{mcp}/mcp"), Some(&t2.key))
        .header("accept", "application/json, text/event-stream")
        .header("x-switchboard-user-token", USER_KEY)
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}))
        .send()
        .await
        .unwrap();
    expect_problem(res, 422, "user_token_unsupported").await;
}

/// Two replicas on one database, the connector's target warm on both: credentials and then a
/// descriptor PATCHed on one are what the other's next calls use (its cached target dropped
/// by LISTEN/NOTIFY), well within the polling deadline.
#[sqlx::test]
async fn a_patch_on_one_replica_reaches_the_other_replicas_cached_connector(db: PgPool) {
    let api = TicketApi::spawn().await;
    let one = TestApp::spawn(db).await;
    let two = one.replica().await;
    let tenant = one.tenant("acme").await;
    let mut descriptor = api.ticket_system();
    let id = connected(&one, &tenant.key, descriptor.clone()).await;
    for app in [&one, &two] {
        assert_eq!(call(app, &tenant.key, &id, "search_tickets", json!({})).await["isError"], false);
    }
    let patch = |body: Value| {
        one.request(Method::PATCH, &format!("/api/v1/connectors/{id}"), Some(&tenant.key)).json(&body).send()
    };

    expect_json(patch(json!({"credentials": {"api_key": USER_KEY}})).await.unwrap(), 200).await;
    let started = std::time::Instant::now();
    let deadline = started + Duration::from_secs(5);
    loop {
        call(&two, &tenant.key, &id, "search_tickets", json!({})).await;
        if api.calls().last().unwrap().api_key.as_deref() == Some(USER_KEY) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "two kept sending the old key");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!("new credentials on the other replica after {:?}", started.elapsed());

    descriptor["mcp_config"]["route_mappings"][0]["mcp_tool_name"] = json!("find_tickets");
    expect_json(patch(json!({"descriptor": descriptor})).await.unwrap(), 200).await;
    let started = std::time::Instant::now();
    let deadline = started + Duration::from_secs(5);
    let path = format!("/api/v1/connectors/{id}/tools/find_tickets/call");
    loop {
        let res = two.post_json(&path, &tenant.key, json!({})).await;
        if res.status() == 200 {
            assert_eq!(res.json::<Value>().await.unwrap()["isError"], false);
            break;
        }
        assert!(std::time::Instant::now() < deadline, "two never served the new descriptor");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!("new descriptor on the other replica after {:?}", started.elapsed());
    assert_eq!(api.calls().last().unwrap().api_key.as_deref(), Some(USER_KEY), "with the new key");
}
