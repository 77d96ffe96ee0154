//! Scope-gated gateway tools (issue 14): each tool's required scope (alias verb, upstream
//! annotations, default, or set), keys with each scope over plain JSON-RPC, the TypeScript
//! and Python SDK clients, and the REST API's view of what a key sees.

use std::path::Path;

use reqwest::Method;
use serde_json::{Value, json};
use sqlx::PgPool;

use super::gateway::{TOKEN, add_tool, create_gateway, issue_key};
use crate::support::mcp_server::{Catalog, Guard, McpServer};
use crate::support::raw_mcp::RawMcp;
use crate::support::{TestApp, TestTenant, expect_json, expect_problem};

fn annotated(name: &str, annotations: Value) -> rmcp::model::Tool {
    let mut tool = Catalog::tool(name, name, json!({"type": "object"}));
    tool.annotations = Some(serde_json::from_value(annotations).unwrap());
    tool
}

/// Every way to a scope, by alias: `get_echo` (read, alias verb), `fail` (write, default),
/// `delete_sleep` (admin, alias verb), `peek` (read, readOnlyHint), `wipe` (admin,
/// destructiveHint). Returns (tenant, gateway id, tool ids by alias, upstream catalog, keep-alive upstream).
pub async fn gated_gateway(app: &TestApp, slug: &str) -> (TestTenant, String, Value, Catalog, McpServer) {
    let t = app.tenant(slug).await;
    let object = json!({"type": "object"});
    let catalog = Catalog::with_tools(vec![
        Catalog::tool(
            "echo",
            "Echo",
            json!({"type": "object", "properties": {"message": {"type": "string"}}}),
        ),
        Catalog::tool("fail", "Fails", object.clone()),
        Catalog::tool("sleep", "Sleeps", object),
        annotated("peek", json!({"readOnlyHint": true})),
        annotated("wipe", json!({"destructiveHint": true, "readOnlyHint": false})),
    ]);
    let guard = Guard::Authorization(format!("Bearer {TOKEN}"));
    let upstream = McpServer::spawn_catalog(guard, catalog.clone()).await;
    let c = app
        .create_connector(&t.key, json!({"url": upstream.url, "auth": {"mode": "bearer", "token": TOKEN}}))
        .await;
    let connector = c["id"].as_str().unwrap().to_owned();
    let res = app.post_json(&format!("/api/v1/connectors/{connector}/connect"), &t.key, json!({})).await;
    assert_eq!(expect_json(res, 200).await["status"], "connected");
    let g = create_gateway(app, &t.key, slug).await;
    let gid = g["id"].as_str().unwrap().to_owned();
    let mut ids = json!({});
    for (tool, alias) in [
        ("echo", "get_echo"),
        ("fail", "fail"),
        ("sleep", "delete_sleep"),
        ("peek", "peek"),
        ("wipe", "wipe"),
    ] {
        let body = json!({"connector_id": connector, "tool": tool, "alias": alias});
        let added = expect_json(add_tool(app, &t.key, &gid, body).await, 201).await;
        ids[alias] = added["id"].clone();
    }
    (t, gid, ids, catalog, upstream)
}

fn names(list: &Value) -> Vec<&str> {
    list["result"]["tools"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect()
}

async fn key_with(app: &TestApp, t: &TestTenant, gid: &str, scopes: Option<&[&str]>) -> Value {
    let body = match scopes {
        Some(scopes) => json!({"scopes": scopes}),
        None => json!({}),
    };
    issue_key(app, &t.key, gid, body).await
}

#[sqlx::test]
async fn each_tool_has_a_required_scope_from_its_alias_annotations_default_or_setting(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let (t, gid, ids, _catalog, _upstream) = gated_gateway(&app, "gated").await;
    let listed = app.get_json(&format!("/api/v1/gateways/{gid}/tools"), &t.key).await;
    let scopes: Vec<(&str, &str, &str)> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let field = |f: &str| t[f].as_str().unwrap();
            (field("alias"), field("required_scope"), field("required_scope_from"))
        })
        .collect();
    assert_eq!(
        scopes,
        [
            ("delete_sleep", "mcp:admin", "alias"),
            ("fail", "mcp:write", "default"),
            ("get_echo", "mcp:read", "alias"),
            ("peek", "mcp:read", "annotations"),
            ("wipe", "mcp:admin", "annotations"),
        ]
    );
    let tool = |alias: &str| format!("/api/v1/gateways/{gid}/tools/{}", ids[alias].as_str().unwrap());
    let patch =
        |alias: &str, body: Value| app.request(Method::PATCH, &tool(alias), Some(&t.key)).json(&body).send();
    let set = expect_json(patch("wipe", json!({"required_scope": "mcp:read"})).await.unwrap(), 200).await;
    assert_eq!(
        (set["required_scope"].as_str(), set["required_scope_from"].as_str()),
        (Some("mcp:read"), Some("setting"))
    );
    // A rename moves a derived scope with the alias; a set one stays.
    let renamed = expect_json(patch("fail", json!({"alias": "list_failures"})).await.unwrap(), 200).await;
    assert_eq!(renamed["required_scope"], "mcp:read");
    let back = expect_json(patch("wipe", json!({"required_scope": null})).await.unwrap(), 200).await;
    assert_eq!(
        (back["required_scope"].as_str(), back["required_scope_from"].as_str()),
        (Some("mcp:admin"), Some("annotations"))
    );
    // A bad scope name is a validation error naming the field, and a refused PATCH changes
    // nothing of what it carried (here: a valid scope beside an invalid alias).
    let bad = patch("wipe", json!({"required_scope": "admin"})).await.unwrap();
    let problem = expect_problem(bad, 400, "validation_failed").await;
    assert_eq!(problem["errors"][0]["field"], "required_scope", "{problem}");
    assert!(problem.to_string().contains("mcp:admin"), "names the choices: {problem}");
    let refused = patch("wipe", json!({"required_scope": "mcp:read", "alias": "no spaces"})).await.unwrap();
    expect_problem(refused, 400, "validation_failed").await;
    let got = app.get_json(&tool("wipe"), &t.key).await;
    assert_eq!(
        (got["alias"].as_str(), got["required_scope"].as_str()),
        (Some("wipe"), Some("mcp:admin")),
        "a refused change changes nothing"
    );
}

#[sqlx::test]
async fn the_upstreams_annotations_tighten_a_tools_scope_but_never_loosen_it(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let (t, gid, ids, catalog, _upstream) = gated_gateway(&app, "drift").await;
    let tool = |alias: &str| format!("/api/v1/gateways/{gid}/tools/{}", ids[alias].as_str().unwrap());
    let connector = app.get_json(&tool("wipe"), &t.key).await["connector_id"].as_str().unwrap().to_owned();
    // The upstream turns the destructive `wipe` read-only, the read-only `peek` destructive,
    // and claims `fail` (no hints when added) only reads.
    catalog.set_tools(vec![
        Catalog::tool("echo", "Echo", json!({"type": "object"})),
        annotated("fail", json!({"readOnlyHint": true})),
        Catalog::tool("sleep", "Sleeps", json!({"type": "object"})),
        annotated("peek", json!({"destructiveHint": true})),
        annotated("wipe", json!({"readOnlyHint": true})),
    ]);
    let res = app.post_json(&format!("/api/v1/connectors/{connector}/sync"), &t.key, json!({})).await;
    expect_json(res, 200).await;
    for (alias, scope, from) in [
        ("wipe", "mcp:admin", "annotations_when_added"),
        ("peek", "mcp:admin", "annotations"),
        ("fail", "mcp:write", "default"),
    ] {
        let got = app.get_json(&tool(alias), &t.key).await;
        assert_eq!(
            (got["required_scope"].as_str(), got["required_scope_from"].as_str()),
            (Some(scope), Some(from)),
            "{alias}: {got}"
        );
    }
    let read = key_with(&app, &t, &gid, Some(&["mcp:read"])).await;
    let mcp = RawMcp::new(&app.url("/api/v1/gateways/drift/mcp"), read["api_key"].as_str().unwrap());
    assert_eq!(
        names(&mcp.call(1, "tools/list", json!({})).await),
        ["get_echo"],
        "wipe did not become readable"
    );
    let wiped = mcp.call(2, "tools/call", json!({"name": "wipe", "arguments": {}})).await;
    assert_eq!(wiped["error"]["code"], -32602, "{wiped}");
}

#[sqlx::test]
async fn another_gateways_key_and_an_expired_key_are_refused_whatever_their_scopes(db: PgPool) {
    let app = TestApp::spawn(db.clone()).await;
    let (t, gid, _ids, _catalog, _upstream) = gated_gateway(&app, "first").await;
    let second = super::gateway::create_gateway(&app, &t.key, "second").await;
    let all = ["mcp:read", "mcp:write", "mcp:admin"];
    let theirs = key_with(&app, &t, second["id"].as_str().unwrap(), Some(&all)).await;
    let url = app.url("/api/v1/gateways/first/mcp");
    let list = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"});
    let res = RawMcp::new(&url, theirs["api_key"].as_str().unwrap()).post(list.clone()).await;
    expect_problem(res, 401, "unauthorized").await;

    let expiring = key_with(&app, &t, &gid, Some(&all)).await;
    let mcp = RawMcp::new(&url, expiring["api_key"].as_str().unwrap());
    assert_eq!(names(&mcp.call(2, "tools/list", json!({})).await).len(), 5, "works while live");
    sqlx::query("UPDATE gateway_keys SET expires_at = now() - interval '1 second' WHERE id = $1::uuid")
        .bind(expiring["id"].as_str().unwrap())
        .execute(&db)
        .await
        .unwrap();
    // Refused once the key's change reaches the key cache (LISTEN/NOTIFY, well within a second).
    let started = std::time::Instant::now();
    while mcp.post(list.clone()).await.status() != 401 {
        assert!(started.elapsed() < std::time::Duration::from_secs(1), "the expired key still works");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    expect_problem(mcp.post(list).await, 401, "unauthorized").await;
    let seen = app
        .get_json(&format!("/api/v1/gateways/{gid}/keys/{}/tools", expiring["id"].as_str().unwrap()), &t.key)
        .await;
    assert_eq!(seen["items"], json!([]), "an expired key sees nothing");
}

#[sqlx::test]
async fn keys_default_to_read_and_write_and_admin_only_when_asked(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let (t, gid, _ids, _catalog, _upstream) = gated_gateway(&app, "keys").await;
    let plain = key_with(&app, &t, &gid, None).await;
    assert_eq!(plain["scopes"], json!(["mcp:read", "mcp:write"]));
    let admin = key_with(&app, &t, &gid, Some(&["mcp:admin"])).await;
    assert_eq!(admin["scopes"], json!(["mcp:admin"]), "admin implies nothing else");
    let listed = app.get_json(&format!("/api/v1/gateways/{gid}/keys"), &t.key).await;
    assert_eq!(listed["items"][1]["scopes"], json!(["mcp:admin"]));
    let res =
        app.post_json(&format!("/api/v1/gateways/{gid}/keys"), &t.key, json!({"scopes": "mcp:read"})).await;
    expect_problem(res, 400, "invalid_json").await;
    for bad in [json!({"scopes": []}), json!({"scopes": ["mcp:read", "admin"]})] {
        let res = app.post_json(&format!("/api/v1/gateways/{gid}/keys"), &t.key, bad.clone()).await;
        let problem = expect_problem(res, 400, "validation_failed").await;
        assert!(problem.to_string().contains("scopes"), "{bad}: {problem}");
    }
}

#[sqlx::test]
async fn a_tool_outside_the_callers_scopes_is_not_listed_and_calling_it_is_calling_an_unknown_tool(
    db: PgPool,
) {
    let app = TestApp::spawn(db).await;
    let (t, gid, _ids, catalog, _upstream) = gated_gateway(&app, "team").await;
    let url = app.url("/api/v1/gateways/team/mcp");
    for (scopes, expected) in [
        (Some(&["mcp:read"][..]), &["get_echo", "peek"][..]),
        (None, &["fail", "get_echo", "peek"]),
        (Some(&["mcp:write"]), &["fail"]),
        (Some(&["mcp:admin"]), &["delete_sleep", "wipe"]),
        (
            Some(&["mcp:read", "mcp:write", "mcp:admin"]),
            &["delete_sleep", "fail", "get_echo", "peek", "wipe"],
        ),
    ] {
        let key = key_with(&app, &t, &gid, scopes).await;
        let mcp = RawMcp::new(&url, key["api_key"].as_str().unwrap());
        assert_eq!(names(&mcp.call(1, "tools/list", json!({})).await), expected, "{scopes:?}");
        let seen = app
            .get_json(&format!("/api/v1/gateways/{gid}/keys/{}/tools", key["id"].as_str().unwrap()), &t.key)
            .await;
        let seen: Vec<&str> =
            seen["items"].as_array().unwrap().iter().map(|t| t["alias"].as_str().unwrap()).collect();
        assert_eq!(seen, expected, "the REST API agrees: {scopes:?}");
        // Page by page, the same tools.
        let path = format!("/api/v1/gateways/{gid}/keys/{}/tools?limit=1", key["id"].as_str().unwrap());
        let mut paged = Vec::new();
        let mut page = app.get_json(&path, &t.key).await;
        loop {
            paged.extend(
                page["items"].as_array().unwrap().iter().map(|t| t["alias"].as_str().unwrap().to_owned()),
            );
            let Some(cursor) = page["next_cursor"].as_str() else { break };
            page = app.get_json(&format!("{path}&cursor={cursor}"), &t.key).await;
        }
        assert_eq!(paged, expected, "paged: {scopes:?}");
    }
    let read = key_with(&app, &t, &gid, Some(&["mcp:read"])).await;
    let mcp = RawMcp::new(&url, read["api_key"].as_str().unwrap());
    let hidden = mcp.call(2, "tools/call", json!({"name": "delete_sleep", "arguments": {"ms": 1}})).await;
    let unknown = mcp.call(3, "tools/call", json!({"name": "no_such_tool", "arguments": {}})).await;
    assert_eq!(hidden["error"]["code"], -32602, "{hidden}");
    assert_eq!(
        hidden["error"]["message"].as_str().unwrap().replace("delete_sleep", "X"),
        unknown["error"]["message"].as_str().unwrap().replace("no_such_tool", "X"),
        "a hidden tool's error is an unknown tool's"
    );
    assert!(catalog.calls().is_empty(), "nothing reached the upstream");
    let allowed =
        mcp.call(4, "tools/call", json!({"name": "get_echo", "arguments": {"message": "hi"}})).await;
    assert_eq!(allowed["result"]["structuredContent"]["message"], "hi", "{allowed}");

    // A tenant API key with `proxy` opens read and write tools; with `admin` too, all.
    let proxy = app.key_with_scopes(&t, &["proxy"]).await;
    assert_eq!(
        names(&RawMcp::new(&url, &proxy).call(5, "tools/list", json!({})).await),
        ["fail", "get_echo", "peek"]
    );
    let owner = app.key_with_scopes(&t, &["proxy", "admin"]).await;
    assert_eq!(names(&RawMcp::new(&url, &owner).call(6, "tools/list", json!({})).await).len(), 5);

    // A revoked key sees nothing; another gateway's or tenant's key id is a 404.
    let key_id = read["id"].as_str().unwrap();
    let res = app
        .request(Method::DELETE, &format!("/api/v1/gateways/{gid}/keys/{key_id}"), Some(&t.key))
        .send()
        .await;
    assert_eq!(res.unwrap().status(), 204);
    let seen = app.get_json(&format!("/api/v1/gateways/{gid}/keys/{key_id}/tools"), &t.key).await;
    assert_eq!(seen["items"], json!([]));
    let other = app.tenant("other").await;
    let res = app
        .request(Method::GET, &format!("/api/v1/gateways/{gid}/keys/{key_id}/tools"), Some(&other.key))
        .send()
        .await;
    expect_problem(res.unwrap(), 404, "not_found").await;
    let res = app
        .request(Method::GET, &format!("/api/v1/gateways/{gid}/keys/{gid}/tools"), Some(&t.key))
        .send()
        .await;
    expect_problem(res.unwrap(), 404, "not_found").await;
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[sqlx::test]
async fn the_typescript_and_python_sdks_list_exactly_the_tools_of_their_keys_scopes(db: PgPool) {
    let Some(_packages) = crate::support::node::interop_packages() else { return };
    let Some(python) = crate::support::node::interop_python() else { return };
    let app = TestApp::spawn(db).await;
    let (t, gid, _ids, _catalog, _upstream) = gated_gateway(&app, "sdk").await;
    let url = app.url("/api/v1/gateways/sdk/mcp");
    let calls = json!([["get_echo", {"message": "hello"}], ["delete_sleep", {"ms": 1}]]).to_string();
    for (scopes, expected) in [
        (Some(&["mcp:read"][..]), json!(["get_echo", "peek"])),
        (None, json!(["fail", "get_echo", "peek"])),
        (Some(&["mcp:admin"]), json!(["delete_sleep", "wipe"])),
    ] {
        let key = key_with(&app, &t, &gid, scopes).await["api_key"].as_str().unwrap().to_owned();
        let ts = vec![
            root().join("interop/gateway_client.mjs").display().to_string(),
            "v1".into(),
            url.clone(),
            key.clone(),
            "header".into(),
            calls.clone(),
        ];
        let py = vec![
            root().join("interop/gateway_client.py").display().to_string(),
            url.clone(),
            key,
            "header".into(),
            "auto".into(),
            calls.clone(),
        ];
        for (name, program, args) in [("ts-v1", "node".into(), ts), ("python", python.clone(), py)] {
            let report = super::gateway_interop::run(program, args).await;
            assert_eq!(report["tools"], expected, "{name} {scopes:?}");
            let results = report["results"].as_array().unwrap();
            let read = scopes.is_none_or(|s| s.contains(&"mcp:read"));
            let admin = scopes.is_some_and(|s| s.contains(&"mcp:admin"));
            assert_eq!(results[0]["error"].is_null(), read, "{name} {scopes:?}: {report}");
            assert_eq!(results[1]["error"].is_null(), admin, "{name} {scopes:?}: {report}");
            if !admin {
                let error = results[1]["error"].as_str().unwrap();
                assert!(error.contains("unknown tool: delete_sleep"), "{name}: {error}");
            }
        }
    }
}
