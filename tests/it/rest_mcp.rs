//! A REST connector's `/api/v1/connectors/{id}/mcp`, served by Switchboard itself (issue 15,
//! decision 0061): the seed's Ticket System on json-server through the Python and TypeScript
//! SDK clients,
//! both eras with a plain JSON-RPC client, sessions that open only where they were given
//! out, two replicas, a gateway mixing a REST and an MCP tool, and a caller's own token.

use reqwest::Method;
use serde_json::{Value, json};
use sqlx::PgPool;

use super::gateway::{add_tool, create_gateway, issue_key, setup};
use super::gateway_interop::run;
use crate::support::node::{NodeServer, free_port};
use crate::support::raw_mcp::{RawMcp, response_to};
use crate::support::rest_api::{API_KEY, TicketApi, USER_KEY};
use crate::support::{TestApp, expect_json, expect_problem};

/// A connected Ticket System connector for `descriptor`; its id.
async fn connected(app: &TestApp, key: &str, descriptor: Value) -> String {
    let body = json!({"kind": "rest", "descriptor": descriptor, "credentials": {"api_key": API_KEY}});
    let created = expect_json(app.post_json("/api/v1/connectors", key, body).await, 201).await;
    let id = created["id"].as_str().unwrap().to_owned();
    let res = app.post_json(&format!("/api/v1/connectors/{id}/connect"), key, json!({})).await;
    assert_eq!(expect_json(res, 200).await["status"], "connected");
    id
}

fn endpoint(app: &TestApp, id: &str) -> String {
    app.url(&format!("/api/v1/connectors/{id}/mcp"))
}

fn tool_names(list: &Value) -> Vec<&str> {
    list["result"]["tools"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect()
}

fn call(id: i64, name: &str, arguments: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": name, "arguments": arguments}})
}

fn root() -> &'static std::path::Path {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The seed's Ticket System against json-server 0.17 (interop/tickets_server.mjs): create,
/// connect (its test endpoint), then the Python SDK client (both eras) and the TypeScript SDK
/// v2 client list the tools and call each through the connector's `/mcp`; json-server saw the
/// right method, path, query, body and API key.
#[sqlx::test]
async fn the_ticket_system_on_json_server_through_the_python_and_typescript_sdk_clients(db: PgPool) {
    let Some(packages) = crate::support::node::interop_packages() else { return };
    let Some(python) = crate::support::node::required(
        root().join("interop/.venv/bin/python"),
        "create interop/.venv (see .ci/run)",
    ) else {
        return;
    };
    assert!(packages.join("@modelcontextprotocol/client").exists(), "the TS SDK v2 client is installed");
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let server = NodeServer::start(
        &root().join("interop/tickets_server.mjs"),
        &[&port.to_string(), API_KEY],
        &[],
        &format!("{base}/api/v1/me"),
    )
    .await;
    let app = TestApp::spawn(db).await;
    let tenant = app.tenant("acme").await;
    let id = connected(&app, &tenant.key, TicketApi::at(&base).ticket_system()).await;
    let url = endpoint(&app, &id);
    let calls = json!([
        ["search_tickets", {"status": "open", "assignee": "a@example.com"}],
        ["get_ticket", {"ticket_id": "T-1"}],
        ["create_ticket", {"title": "Fax jammed", "priority": "high"}],
    ])
    .to_string();
    let script = |name: &str| root().join("interop").join(name).display().to_string();
    let key = tenant.key.clone();
    let mut runs = Vec::new();
    for mode in ["auto", "legacy"] {
        let args = vec![
            script("gateway_client.py"),
            url.clone(),
            key.clone(),
            "header".into(),
            mode.into(),
            calls.clone(),
        ];
        runs.push((format!("python-{mode}"), python.clone(), args));
    }
    let args = vec![
        script("gateway_client.mjs"),
        "v2".into(),
        url.clone(),
        key.clone(),
        "header".into(),
        calls.clone(),
    ];
    runs.push(("ts-v2".into(), "node".into(), args));
    let seen =
        || -> Vec<Value> { server.json_lines().into_iter().filter(|r| r["path"] != "/api/v1/me").collect() };
    for (name, program, args) in runs {
        let before = seen().len();
        let report = run(program, args).await;
        eprintln!("{name}: {report}");
        assert_eq!(report["tools"], json!(["create_ticket", "get_ticket", "search_tickets"]), "{name}");
        assert_eq!(report["server"], "ticket_system", "{name}");
        let results = report["results"].as_array().unwrap();
        assert!(results.iter().all(|r| r["isError"] == false), "{name}: {report}");
        assert_eq!(results[0]["structuredContent"]["result"][0]["id"], "T-1", "{name}");
        assert_eq!(results[1]["structuredContent"]["title"], "Printer on fire", "{name}");
        assert_eq!(results[2]["structuredContent"]["title"], "Fax jammed", "{name}");

        let seen = &seen()[before..];
        assert_eq!(seen.len(), 3, "{name}: {seen:?}");
        let line =
            |r: &Value| (r["method"].clone(), r["path"].clone(), r["query"].clone(), r["body"].clone());
        assert_eq!(
            seen.iter().map(line).collect::<Vec<_>>(),
            [
                (
                    json!("GET"),
                    json!("/api/v1/tickets"),
                    json!("status=open&assignee=a%40example.com&limit=25"),
                    Value::Null
                ),
                (json!("GET"), json!("/api/v1/tickets/T-1"), Value::Null, Value::Null),
                (
                    json!("POST"),
                    json!("/api/v1/tickets"),
                    Value::Null,
                    json!({"title": "Fax jammed", "priority": "high"})
                ),
            ],
            "{name}"
        );
        assert!(seen.iter().all(|r| r["api_key"] == API_KEY), "{name}: the stored key: {seen:?}");
    }
    let log = app.get_json(&format!("/api/v1/connectors/{id}/tool-calls?limit=200"), &tenant.key).await;
    assert_eq!(log["items"].as_array().unwrap().len(), 9, "every call is in the connector's log");
}

#[sqlx::test]
async fn both_eras_with_sessions_that_open_only_where_they_were_given_out(db: PgPool) {
    let api = TicketApi::spawn().await;
    let app = TestApp::spawn(db).await;
    let tenant = app.tenant("acme").await;
    let id = connected(&app, &tenant.key, api.ticket_system()).await;

    // 2025-era: initialize, a sealed session id, then calls under it.
    let mut old = RawMcp::new(&endpoint(&app, &id), &tenant.key);
    let init = old.initialize().await;
    assert_eq!(init["serverInfo"]["name"], "ticket_system", "{init}");
    let session = old.session.clone().expect("a 2025-era client gets a session id");
    assert!(session.contains('.'), "sealed: {session}");
    let list = old.call(1, "tools/list", json!({})).await;
    assert_eq!(tool_names(&list), ["create_ticket", "get_ticket", "search_tickets"]);
    let get = list["result"]["tools"].as_array().unwrap().iter().find(|t| t["name"] == "get_ticket").unwrap();
    assert_eq!(get["inputSchema"]["required"], json!(["ticket_id"]), "{get}");
    let found = response_to(old.post(call(2, "get_ticket", json!({"ticket_id": "T-9"}))).await, 2).await;
    assert_eq!(found["result"]["structuredContent"]["id"], "T-9", "{found}");
    let invalid = response_to(old.post(call(3, "get_ticket", json!({}))).await, 3).await;
    assert_eq!(invalid["result"]["isError"], true, "a tool error the model reads: {invalid}");
    let unknown = response_to(old.post(call(4, "close_ticket", json!({}))).await, 4).await;
    assert_eq!(unknown["error"]["code"], -32602, "{unknown}");

    // 2026-07-28: server/discover and self-contained requests, no session; `Mcp-Name` must
    // say what the body says.
    let modern = RawMcp::new(&endpoint(&app, &id), &tenant.key);
    let modern = |method: &str, name: Option<&str>, params: Value| modern.modern(method, name, params).send();
    let res = modern("server/discover", None, json!({})).await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers().get("mcp-session-id").is_none(), "2026-era: no session");
    let discovered = response_to(res, 1).await;
    assert!(discovered["result"]["supportedVersions"].to_string().contains("2026-07-28"), "{discovered}");
    let params = json!({"name": "get_ticket", "arguments": {"ticket_id": "T-3"}});
    let res = modern("tools/call", Some("get_ticket"), params.clone()).await.unwrap();
    assert_eq!(response_to(res, 1).await["result"]["structuredContent"]["id"], "T-3");
    assert_eq!(modern("tools/call", Some("search_tickets"), params).await.unwrap().status(), 400);

    // A gateway's session id does not open here, nor this connector's on a gateway.
    let (t2, _upstream, mcp_connector) = setup(&app, "other").await;
    let g = create_gateway(&app, &t2.key, "team").await;
    let gid = g["id"].as_str().unwrap();
    let body = json!({"connector_id": mcp_connector, "tool": "echo", "alias": "say"});
    expect_json(add_tool(&app, &t2.key, gid, body).await, 201).await;
    let gkey = issue_key(&app, &t2.key, gid, json!({})).await["api_key"].as_str().unwrap().to_owned();
    let mut on_gateway = RawMcp::new(&app.url("/api/v1/gateways/team/mcp"), &gkey);
    on_gateway.initialize().await;
    let mut replayed = RawMcp::new(&endpoint(&app, &id), &tenant.key);
    replayed.session = on_gateway.session.clone();
    assert_eq!(replayed.post(json!({"jsonrpc": "2.0", "id": 1, "method": "ping"})).await.status(), 404);
    on_gateway.session = Some(session);
    assert_eq!(on_gateway.post(json!({"jsonrpc": "2.0", "id": 1, "method": "ping"})).await.status(), 404);

    // The legacy transport is not one a REST connector speaks.
    let sse = app
        .request(Method::GET, &format!("/api/v1/connectors/{id}/sse"), Some(&tenant.key))
        .send()
        .await
        .unwrap();
    let problem = expect_problem(sse, 409, "wrong_transport").await;
    assert!(problem["detail"].as_str().unwrap().ends_with("/mcp"), "{problem}");
    // Another tenant's key finds no such connector.
    let other = RawMcp::new(&endpoint(&app, &id), &t2.key);
    assert_eq!(other.post(json!({"jsonrpc": "2.0", "id": 1, "method": "ping"})).await.status(), 404);
}

#[sqlx::test]
async fn two_replicas_share_sessions_and_a_descriptor_change(db: PgPool) {
    let api = TicketApi::spawn().await;
    let one = TestApp::spawn(db).await;
    let two = one.replica().await;
    let tenant = one.tenant("acme").await;
    let mut descriptor = api.ticket_system();
    let id = connected(&one, &tenant.key, descriptor.clone()).await;
    let mut on_one = RawMcp::new(&endpoint(&one, &id), &tenant.key);
    on_one.initialize().await;
    let mut on_two = RawMcp::new(&endpoint(&two, &id), &tenant.key);
    on_two.session = on_one.session.clone();
    on_two.protocol_version = on_one.protocol_version.clone();
    let found = response_to(on_two.post(call(1, "search_tickets", json!({}))).await, 1).await;
    assert_eq!(found["result"]["isError"], false, "a session from one replica works on the other: {found}");

    // Two's cache is warm; a new descriptor saved on one reaches it (the old cached tools have
    // no `find_tickets`: until two's cache drops them, the call is an unknown tool).
    descriptor["mcp_config"]["route_mappings"][0]["mcp_tool_name"] = json!("find_tickets");
    let res = one
        .request(Method::PATCH, &format!("/api/v1/connectors/{id}"), Some(&tenant.key))
        .json(&json!({"descriptor": descriptor}))
        .send()
        .await
        .unwrap();
    expect_json(res, 200).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let res = response_to(on_two.post(call(2, "find_tickets", json!({}))).await, 2).await;
        if res["result"]["isError"] == false {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "two never saw the new descriptor: {res}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let list = on_two.call(3, "tools/list", json!({})).await;
    assert_eq!(tool_names(&list), ["create_ticket", "find_tickets", "get_ticket"]);
}

/// A gateway `multi` with the MCP connector's `echo` as `say` and the REST connector's
/// `get_ticket` as `ticket`; a key of it.
async fn mixed_gateway(app: &TestApp, key: &str, mcp_connector: &str, rest_connector: &str) -> String {
    let g = create_gateway(app, key, "multi").await;
    let gid = g["id"].as_str().unwrap();
    for (connector, tool, alias) in [(mcp_connector, "echo", "say"), (rest_connector, "get_ticket", "ticket")]
    {
        let body = json!({"connector_id": connector, "tool": tool, "alias": alias});
        expect_json(add_tool(app, key, gid, body).await, 201).await;
    }
    issue_key(app, key, gid, json!({})).await["api_key"].as_str().unwrap().to_owned()
}

#[sqlx::test]
async fn a_gateway_exposes_a_rest_tool_and_an_mcp_tool_side_by_side(db: PgPool) {
    let api = TicketApi::spawn().await;
    let app = TestApp::spawn(db).await;
    let (t, _upstream, mcp_connector) = setup(&app, "mixed").await;
    let rest_connector = connected(&app, &t.key, api.ticket_system()).await;
    let key = mixed_gateway(&app, &t.key, &mcp_connector, &rest_connector).await;
    let mut mcp = RawMcp::new(&app.url("/api/v1/gateways/multi/mcp"), &key);
    mcp.initialize().await;
    let list = mcp.call(1, "tools/list", json!({})).await;
    assert_eq!(tool_names(&list), ["say", "ticket"]);
    let said = response_to(mcp.post(call(2, "say", json!({"message": "hi"}))).await, 2).await;
    assert_eq!(said["result"]["structuredContent"]["message"], "hi", "{said}");
    let ticket = response_to(mcp.post(call(3, "ticket", json!({"ticket_id": "T-5"}))).await, 3).await;
    assert_eq!(ticket["result"]["structuredContent"]["id"], "T-5", "{ticket}");
    assert_eq!(api.calls().last().unwrap().path, "/api/v1/tickets/T-5");
}

/// A caller's own token on a REST connector's `/mcp` and on a gateway: the REST API sees it
/// in place of the stored key, for that request only; a gateway's MCP tool refuses it as a
/// tool error.
#[sqlx::test]
async fn a_user_token_reaches_the_rest_api_through_mcp_and_gateways(db: PgPool) {
    let api = TicketApi::spawn().await;
    let app = TestApp::spawn(db).await;
    let (t, _upstream, mcp_connector) = setup(&app, "mixed").await;
    let rest_connector = connected(&app, &t.key, api.ticket_system()).await;
    let mcp = RawMcp::new(&endpoint(&app, &rest_connector), &t.key);
    let as_user = |message: Value| {
        mcp.request(Method::POST).header("x-switchboard-user-token", USER_KEY).json(&message).send()
    };
    let mine =
        response_to(as_user(call(1, "get_ticket", json!({"ticket_id": "T-1"}))).await.unwrap(), 1).await;
    assert_eq!(mine["result"]["structuredContent"]["id"], "T-1", "{mine}");
    let stored = response_to(mcp.post(call(2, "get_ticket", json!({"ticket_id": "T-2"}))).await, 2).await;
    assert_eq!(stored["result"]["isError"], false, "{stored}");
    let keys: Vec<Option<String>> = api.calls().into_iter().map(|c| c.api_key).collect();
    assert_eq!(keys, [Some(USER_KEY.to_owned()), Some(API_KEY.to_owned())]);
    let res = mcp
        .request(Method::POST)
        .header("x-switchboard-user-token", "")
        .json(&call(3, "get_ticket", json!({"ticket_id": "T-3"})))
        .send()
        .await
        .unwrap();
    expect_problem(res, 400, "invalid_user_token").await;

    let key = mixed_gateway(&app, &t.key, &mcp_connector, &rest_connector).await;
    let gateway = RawMcp::new(&app.url("/api/v1/gateways/multi/mcp"), &key);
    let via_gateway = |message: Value| {
        gateway.request(Method::POST).header("x-switchboard-user-token", USER_KEY).json(&message).send()
    };
    let ticket =
        response_to(via_gateway(call(4, "ticket", json!({"ticket_id": "T-4"}))).await.unwrap(), 4).await;
    assert_eq!(ticket["result"]["structuredContent"]["id"], "T-4", "{ticket}");
    assert_eq!(api.calls().last().unwrap().api_key.as_deref(), Some(USER_KEY));
    let said = response_to(via_gateway(call(5, "say", json!({"message": "hi"}))).await.unwrap(), 5).await;
    assert_eq!(said["result"]["isError"], true, "{said}");
    assert!(said.to_string().contains("user_token_unsupported"), "{said}");
}
