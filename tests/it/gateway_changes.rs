//! A gateway tells its MCP clients when its tool list changes: 2025-era clients on their
//! standalone GET stream, 2026-07-28 clients on `subscriptions/listen`, whichever replica made
//! the change; a stream ends when its key is revoked.

use std::time::Duration;

use reqwest::{Method, Response};
use serde_json::{Value, json};
use sqlx::PgPool;

use super::gateway::{add_tool, catalog, create_gateway, issue_key, setup_with};
use crate::support::mcp_server::{Catalog, McpServer};
use crate::support::node::{NodeServer, interop_packages, interop_python};
use crate::support::raw_mcp::{RawMcp, modern_meta};
use crate::support::{TestApp, TestTenant, expect_json, expect_problem};

const LIST_CHANGED: &str = "notifications/tools/list_changed";

struct Fixture {
    tenant: TestTenant,
    gateway: String,
    connector: String,
    key: String,
    catalog: Catalog,
    _upstream: McpServer,
}

/// A gateway `team` exposing the upstream's `echo` as `say`, with one key.
async fn fixture(app: &TestApp) -> Fixture {
    let catalog = catalog();
    let (tenant, upstream, connector) = setup_with(app, "a", catalog.clone()).await;
    let g = create_gateway(app, &tenant.key, "team").await;
    let gateway = g["id"].as_str().unwrap().to_owned();
    let body = json!({"connector_id": connector, "tool": "echo", "alias": "say"});
    expect_json(add_tool(app, &tenant.key, &gateway, body).await, 201).await;
    let key = issue_key(app, &tenant.key, &gateway, json!({})).await["api_key"].as_str().unwrap().to_owned();
    Fixture { tenant, gateway, connector, key, catalog, _upstream: upstream }
}

fn endpoint(app: &TestApp) -> String {
    app.url("/api/v1/gateways/team/mcp")
}

/// The stream's text until it holds `count` list_changed notifications (or the wait ends).
async fn read_until(res: &mut Response, count: usize, wait: Duration) -> String {
    let mut text = String::new();
    let deadline = tokio::time::Instant::now() + wait;
    while text.matches(LIST_CHANGED).count() < count {
        match tokio::time::timeout_at(deadline, res.chunk()).await {
            Ok(Ok(Some(chunk))) => text.push_str(&String::from_utf8_lossy(&chunk)),
            _ => break,
        }
    }
    text
}

/// Adds the upstream's `fail` to the gateway (a change of the gateway's own tools).
async fn add_fail(app: &TestApp, f: &Fixture) {
    let body = json!({"connector_id": f.connector, "tool": "fail"});
    expect_json(add_tool(app, &f.tenant.key, &f.gateway, body).await, 201).await;
}

#[sqlx::test]
async fn a_2025_client_hears_of_changes_on_its_get_stream_whichever_replica_made_them(db: PgPool) {
    let one = TestApp::spawn(db).await;
    let two = one.replica().await;
    let f = fixture(&one).await;
    let mut mcp = RawMcp::new(&endpoint(&two), &f.key);
    let init = mcp.initialize().await;
    assert_eq!(init["capabilities"]["tools"]["listChanged"], true, "{init}");

    let mut stream = mcp.request(Method::GET).send().await.unwrap();
    assert_eq!(stream.status(), 200);
    assert!(stream.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
    // A change of the gateway's tools, made on the other replica.
    add_fail(&one, &f).await;
    let text = read_until(&mut stream, 1, Duration::from_secs(10)).await;
    assert_eq!(text.matches(LIST_CHANGED).count(), 1, "one notice per change: {text:?}");
    let list = mcp.call(1, "tools/list", json!({})).await;
    assert_eq!(list["result"]["tools"].as_array().unwrap().len(), 2, "{list}");

    // A change of the upstream's catalog that a sync picks up.
    let mut tools = catalog().tools();
    tools[0].description = Some("Echo, described anew".into());
    f.catalog.set_tools(tools);
    let synced =
        one.post_json(&format!("/api/v1/connectors/{}/sync", f.connector), &f.tenant.key, json!({})).await;
    assert!(synced.status().is_success(), "{}", synced.status());
    let text = read_until(&mut stream, 1, Duration::from_secs(10)).await;
    assert!(text.contains(LIST_CHANGED), "the catalog's change reached the stream: {text:?}");
}

#[sqlx::test]
async fn a_2026_client_hears_of_changes_on_subscriptions_listen(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let f = fixture(&app).await;
    let params = json!({"_meta": modern_meta(), "notifications": {"toolsListChanged": true}});
    let mut stream = app
        .client
        .post(endpoint(&app))
        .bearer_auth(&f.key)
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "subscriptions/listen")
        .json(&json!({"jsonrpc": "2.0", "id": 7, "method": "subscriptions/listen", "params": params}))
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    let mut text = String::new();
    while !text.contains("notifications/subscriptions/acknowledged") {
        let chunk = tokio::time::timeout(Duration::from_secs(5), stream.chunk()).await.unwrap().unwrap();
        text.push_str(&String::from_utf8_lossy(&chunk.expect("the acknowledgement")));
    }
    assert!(text.contains("\"toolsListChanged\":true"), "accepted as asked: {text}");

    add_fail(&app, &f).await;
    let text = read_until(&mut stream, 1, Duration::from_secs(10)).await;
    let notice = text.lines().find(|l| l.contains(LIST_CHANGED)).expect(&text);
    let notice: Value = serde_json::from_str(notice.trim_start_matches("data:").trim()).unwrap();
    assert_eq!(notice["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"], 7, "{notice}");
}

#[sqlx::test]
async fn a_stream_ends_when_its_key_is_revoked_and_needs_an_event_stream_accept(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let f = fixture(&app).await;
    let mcp = RawMcp::new(&endpoint(&app), &f.key);
    let json_only =
        app.client.get(endpoint(&app)).bearer_auth(&f.key).header("accept", "application/json").send();
    let json_only = json_only.await.unwrap();
    expect_problem(json_only, 406, "not_acceptable").await;

    let mut stream = mcp.request(Method::GET).send().await.unwrap();
    assert_eq!(stream.status(), 200);
    let keys = app.get_json(&format!("/api/v1/gateways/{}/keys", f.gateway), &f.tenant.key).await;
    let path = format!("/api/v1/gateways/{}/keys/{}", f.gateway, keys["items"][0]["id"].as_str().unwrap());
    assert_eq!(app.request(Method::DELETE, &path, Some(&f.tenant.key)).send().await.unwrap().status(), 204);
    let ended = tokio::time::timeout(Duration::from_secs(20), async {
        while let Ok(Some(_)) = stream.chunk().await {}
    })
    .await;
    assert!(ended.is_ok(), "the revoked key's stream ended");
}

/// Runs an SDK client that waits for a tool-list change: once it is ready, changes the
/// gateway's tools (again each second: the client's stream may open just after it said it
/// was ready) until it reports the tools it listed after the notice.
async fn changes_reach(app: &TestApp, f: &Fixture, client: NodeServer) -> (Value, Value) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let line = |key: &str| client.json_lines().into_iter().find(|l| l.get(key).is_some());
    let ready = loop {
        if let Some(ready) = line("ready") {
            break ready;
        }
        assert!(tokio::time::Instant::now() < deadline, "the client never got ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let tool = json!({"connector_id": f.connector, "tool": "fail"});
    let added = expect_json(add_tool(app, &f.tenant.key, &f.gateway, tool).await, 201).await;
    let path = format!("/api/v1/gateways/{}/tools/{}", f.gateway, added["id"].as_str().unwrap());
    for round in 0.. {
        if let Some(changed) = line("changed") {
            return (ready, changed);
        }
        assert!(tokio::time::Instant::now() < deadline, "no notice reached the client");
        tokio::time::sleep(Duration::from_secs(1)).await;
        let body = json!({"description": format!("Fails, round {round}")});
        let res = app.request(Method::PATCH, &path, Some(&f.tenant.key)).json(&body).send().await.unwrap();
        assert_eq!(res.status(), 200);
    }
    unreachable!()
}

#[sqlx::test]
async fn sdk_clients_of_both_eras_hear_of_changes(db: PgPool) {
    let Some(packages) = interop_packages() else { return };
    let Some(python) = interop_python() else { return };
    let app = TestApp::spawn(db).await;
    let f = fixture(&app).await;
    let url = endpoint(&app);

    let script = packages.parent().unwrap().join("gateway_changes.mjs");
    let v1 = NodeServer::spawn(&script, &[&url, &f.key], &[]);
    let (ready, changed) = changes_reach(&app, &f, v1).await;
    assert_eq!(ready["listChanged"], true, "{ready}");
    assert_eq!(changed["tools"], json!(["fail", "say"]), "{changed}");

    // The Python client adds `fail` again: take it out first, before the client listens.
    let tools = app.get_json(&format!("/api/v1/gateways/{}/tools", f.gateway), &f.tenant.key).await;
    let fail =
        tools["items"].as_array().unwrap().iter().find(|t| t["alias"] == "fail").unwrap()["id"].clone();
    let path = format!("/api/v1/gateways/{}/tools/{}", f.gateway, fail.as_str().unwrap());
    assert_eq!(app.request(Method::DELETE, &path, Some(&f.tenant.key)).send().await.unwrap().status(), 204);
    let script = packages.parent().unwrap().join("gateway_changes.py");
    let python = NodeServer::spawn_program(&python, &[script.to_str().unwrap(), &url, &f.key], &[]);
    let (ready, changed) = changes_reach(&app, &f, python).await;
    assert_eq!(ready["protocol"], "2026-07-28", "{ready}");
    assert_eq!(ready["honored"], json!({"toolsListChanged": true}), "{ready}");
    assert_eq!(changed["tools"], json!(["fail", "say"]), "{changed}");
}
