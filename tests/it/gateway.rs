//! Gateways over the REST API: CRUD, tools picked from a real upstream's synced catalog, keys
//! and tenant isolation. The MCP endpoint is in `gateway_mcp`.

use reqwest::Method;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::support::auth_server::{AsConfig, AuthServer};
use crate::support::mcp_server::{Catalog, Guard, McpServer};
use crate::support::{TestApp, TestTenant, connected_oauth_connector, expect_json, expect_problem};

pub const TOKEN: &str = "gateway-upstream-token";

pub fn catalog() -> Catalog {
    let object = |properties: Value, required: &[&str]| json!({"type": "object", "properties": properties, "required": required});
    Catalog::with_tools(vec![
        Catalog::tool(
            "echo",
            "Echo the arguments",
            object(json!({"message": {"type": "string"}}), &["message"]),
        ),
        Catalog::tool("fail", "Always fails", object(json!({}), &[])),
        Catalog::tool("sleep", "Sleeps", object(json!({"ms": {"type": "integer", "minimum": 0}}), &["ms"])),
    ])
}

/// A tenant with a connected (and so synced) bearer connector to a catalog upstream.
pub async fn setup(app: &TestApp, name: &str) -> (TestTenant, McpServer, String) {
    let (t, upstream, id) = setup_with(app, name, catalog()).await;
    let tools = app.get_json(&format!("/api/v1/connectors/{id}/tools"), &t.key).await;
    assert_eq!(tools["items"].as_array().unwrap().len(), 3, "the connect synced the catalog: {tools}");
    (t, upstream, id)
}

/// [`setup`] with the upstream serving `catalog`.
pub async fn setup_with(app: &TestApp, name: &str, catalog: Catalog) -> (TestTenant, McpServer, String) {
    let t = app.tenant(name).await;
    let upstream = McpServer::spawn_catalog(Guard::Authorization(format!("Bearer {TOKEN}")), catalog).await;
    let c = app
        .create_connector(&t.key, json!({"url": upstream.url, "auth": {"mode": "bearer", "token": TOKEN}}))
        .await;
    let id = c["id"].as_str().unwrap().to_owned();
    let res = app.post_json(&format!("/api/v1/connectors/{id}/connect"), &t.key, json!({})).await;
    assert_eq!(expect_json(res, 200).await["status"], "connected");
    (t, upstream, id)
}

/// A connector of `key`'s tenant, connected through the whole authorization-code flow, to an
/// upstream serving [`catalog`] that accepts only live access tokens of a real test AS.
/// `app` must be [public](TestApp::spawn_public), so that the AS's redirect reaches it.
pub async fn setup_oauth(app: &TestApp, key: &str) -> (AuthServer, McpServer, String) {
    let auth_server = AuthServer::spawn(AsConfig::default()).await;
    let guard = Guard::OAuth { server: auth_server.clone(), scope: None };
    let upstream = McpServer::spawn_catalog(guard, catalog()).await;
    let id = connected_oauth_connector(app, key, &upstream.url).await;
    let tools = app.get_json(&format!("/api/v1/connectors/{id}/tools"), key).await;
    assert_eq!(tools["items"].as_array().unwrap().len(), 3, "the connect synced the catalog: {tools}");
    (auth_server, upstream, id)
}

/// A catalog of `n` tools that take anything, named by `name(i)`.
pub fn many_tools(n: usize, name: impl Fn(usize) -> String) -> Catalog {
    Catalog::with_tools(
        (0..n).map(|i| Catalog::tool(&name(i), "A tool", json!({"type": "object"}))).collect(),
    )
}

pub async fn create_gateway(app: &TestApp, key: &str, slug: &str) -> Value {
    let body = json!({"slug": slug, "name": "Team tools", "instructions": "Use these tools for the team."});
    expect_json(app.post_json("/api/v1/gateways", key, body).await, 201).await
}

pub async fn add_tool(app: &TestApp, key: &str, gateway: &str, body: Value) -> reqwest::Response {
    app.post_json(&format!("/api/v1/gateways/{gateway}/tools"), key, body).await
}

pub async fn issue_key(app: &TestApp, key: &str, gateway: &str, body: Value) -> Value {
    expect_json(app.post_json(&format!("/api/v1/gateways/{gateway}/keys"), key, body).await, 201).await
}

/// (alias, status) of each call in a page of a gateway's call log.
pub fn call_statuses(logs: &Value) -> Vec<(&str, &str)> {
    let calls = logs["items"].as_array().unwrap().iter();
    calls.map(|c| (c["alias"].as_str().unwrap(), c["status"].as_str().unwrap())).collect()
}

fn aliases(list: &Value) -> Vec<&str> {
    list["items"].as_array().unwrap().iter().map(|t| t["alias"].as_str().unwrap()).collect()
}

#[sqlx::test]
async fn gateways_are_created_read_changed_and_deleted_within_their_tenant(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let (a, b) = (app.tenant("a").await, app.tenant("b").await);
    let g = create_gateway(&app, &a.key, "team").await;
    let id = g["id"].as_str().unwrap();
    assert_eq!(g["slug"], "team");
    assert_eq!(g["instructions"], "Use these tools for the team.");
    assert!(g["mcp_url"].as_str().unwrap().ends_with("/api/v1/gateways/team/mcp"), "{g}");

    let dup = app.post_json("/api/v1/gateways", &a.key, json!({"slug": "team", "name": "again"})).await;
    expect_problem(dup, 409, "slug_taken").await;
    // Slugs are per tenant.
    create_gateway(&app, &b.key, "team").await;
    let bad = app.post_json("/api/v1/gateways", &a.key, json!({"slug": "Not OK", "name": ""})).await;
    let problem = expect_problem(bad, 400, "validation_failed").await;
    let fields: Vec<&str> =
        problem["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["slug", "name"], "{problem}");

    let listed = app.get_json("/api/v1/gateways", &a.key).await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    let patch = app.request(Method::PATCH, &format!("/api/v1/gateways/{id}"), Some(&a.key));
    let res = patch.json(&json!({"name": "Renamed", "instructions": null})).send().await.unwrap();
    let changed = expect_json(res, 200).await;
    assert_eq!((changed["name"].as_str(), changed["instructions"].as_str()), (Some("Renamed"), None));
    assert_eq!(changed["slug"], "team");

    // Another tenant's gateway does not exist for b, whatever b asks.
    let other =
        app.request(Method::GET, &format!("/api/v1/gateways/{id}"), Some(&b.key)).send().await.unwrap();
    expect_problem(other, 404, "not_found").await;
    let del =
        app.request(Method::DELETE, &format!("/api/v1/gateways/{id}"), Some(&b.key)).send().await.unwrap();
    expect_problem(del, 404, "not_found").await;
    let del =
        app.request(Method::DELETE, &format!("/api/v1/gateways/{id}"), Some(&a.key)).send().await.unwrap();
    assert_eq!(del.status(), 204);
    let gone =
        app.request(Method::GET, &format!("/api/v1/gateways/{id}"), Some(&a.key)).send().await.unwrap();
    expect_problem(gone, 404, "not_found").await;
}

#[sqlx::test]
async fn tools_are_picked_from_the_catalog_renamed_switched_and_removed(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let (t, _upstream, connector) = setup(&app, "a").await;
    let g = create_gateway(&app, &t.key, "team").await;
    let gid = g["id"].as_str().unwrap();

    let res =
        add_tool(&app, &t.key, gid, json!({"connector_id": connector, "tool": "echo", "alias": "say"})).await;
    let say = expect_json(res, 201).await;
    assert_eq!(
        (say["alias"].as_str(), say["tool"].as_str(), say["enabled"].as_bool()),
        (Some("say"), Some("echo"), Some(true))
    );
    assert_eq!(say["upstream_description"], "Echo the arguments");
    assert_eq!(say["input_schema"]["required"], json!(["message"]));
    assert_eq!(say["connected"], true);

    let unknown = add_tool(&app, &t.key, gid, json!({"connector_id": connector, "tool": "nope"})).await;
    expect_problem(unknown, 404, "not_found").await;
    let taken =
        add_tool(&app, &t.key, gid, json!({"connector_id": connector, "tool": "fail", "alias": "say"})).await;
    expect_problem(taken, 409, "alias_taken").await;
    let twice =
        add_tool(&app, &t.key, gid, json!({"connector_id": connector, "tool": "echo", "alias": "again"}))
            .await;
    expect_problem(twice, 409, "tool_already_added").await;
    let bad =
        add_tool(&app, &t.key, gid, json!({"connector_id": connector, "tool": "fail", "alias": "no spaces"}))
            .await;
    expect_problem(bad, 400, "validation_failed").await;

    let bulk = app
        .post_json(
            &format!("/api/v1/gateways/{gid}/tools/bulk"),
            &t.key,
            json!({"connector_id": connector, "enabled": false}),
        )
        .await;
    let bulk = expect_json(bulk, 200).await;
    assert_eq!(bulk["added"], 2, "echo is in already; fail and sleep are added");
    assert_eq!(bulk["invalid_names"], json!([]));
    let listed = app.get_json(&format!("/api/v1/gateways/{gid}/tools"), &t.key).await;
    assert_eq!(aliases(&listed), ["fail", "say", "sleep"]);
    let page = app.get_json(&format!("/api/v1/gateways/{gid}/tools?limit=2"), &t.key).await;
    assert_eq!(aliases(&page), ["fail", "say"]);
    let rest = app
        .get_json(
            &format!("/api/v1/gateways/{gid}/tools?limit=2&cursor={}", page["next_cursor"].as_str().unwrap()),
            &t.key,
        )
        .await;
    assert_eq!(aliases(&rest), ["sleep"]);

    let fail_id = listed["items"][0]["id"].as_str().unwrap();
    let patch = app.request(Method::PATCH, &format!("/api/v1/gateways/{gid}/tools/{fail_id}"), Some(&t.key));
    let res = patch
        .json(&json!({"alias": "broken", "enabled": true, "description": "Fails on purpose"}))
        .send()
        .await
        .unwrap();
    let changed = expect_json(res, 200).await;
    assert_eq!((changed["alias"].as_str(), changed["enabled"].as_bool()), (Some("broken"), Some(true)));
    assert_eq!(
        (changed["description"].as_str(), changed["upstream_description"].as_str()),
        (Some("Fails on purpose"), Some("Always fails"))
    );
    let patch = app.request(Method::PATCH, &format!("/api/v1/gateways/{gid}/tools/{fail_id}"), Some(&t.key));
    expect_problem(patch.json(&json!({"alias": "say"})).send().await.unwrap(), 409, "alias_taken").await;

    let del = app
        .request(Method::DELETE, &format!("/api/v1/gateways/{gid}/tools/{fail_id}"), Some(&t.key))
        .send()
        .await
        .unwrap();
    assert_eq!(del.status(), 204);
    let again = app
        .request(Method::DELETE, &format!("/api/v1/gateways/{gid}/tools/{fail_id}"), Some(&t.key))
        .send()
        .await
        .unwrap();
    expect_problem(again, 404, "not_found").await;

    // Another tenant can neither see these tools nor add its own gateway's tools from this connector.
    let b = app.tenant("b").await;
    let theirs = app
        .request(Method::GET, &format!("/api/v1/gateways/{gid}/tools"), Some(&b.key))
        .send()
        .await
        .unwrap();
    expect_problem(theirs, 404, "not_found").await;
    let bg = create_gateway(&app, &b.key, "b-team").await;
    let steal = add_tool(
        &app,
        &b.key,
        bg["id"].as_str().unwrap(),
        json!({"connector_id": connector, "tool": "echo"}),
    )
    .await;
    expect_problem(steal, 404, "not_found").await;
    let read_only = app.key_with_scopes(&t, &["read"]).await;
    let denied =
        add_tool(&app, &read_only, gid, json!({"connector_id": connector, "tool": "sleep", "alias": "nap"}))
            .await;
    expect_problem(denied, 403, "insufficient_scope").await;
}

#[sqlx::test]
async fn keys_are_shown_once_listed_by_prefix_and_revoked(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let t = app.tenant("a").await;
    let g = create_gateway(&app, &t.key, "team").await;
    let gid = g["id"].as_str().unwrap();
    let issued =
        issue_key(&app, &t.key, gid, json!({"name": "laptop", "expires_at": "2999-01-01T00:00:00Z"})).await;
    let secret = issued["api_key"].as_str().unwrap();
    assert!(secret.starts_with("gk_") && secret.len() == 46, "{secret}");
    assert!(secret.starts_with(issued["prefix"].as_str().unwrap()));

    let listed = app.get_json(&format!("/api/v1/gateways/{gid}/keys"), &t.key).await;
    assert!(!listed.to_string().contains(secret), "the secret is never listed");
    assert_eq!(listed["items"][0]["name"], "laptop");
    let past = app
        .post_json(
            &format!("/api/v1/gateways/{gid}/keys"),
            &t.key,
            json!({"expires_at": "2001-01-01T00:00:00Z"}),
        )
        .await;
    expect_problem(past, 400, "validation_failed").await;

    let kid = issued["id"].as_str().unwrap();
    let revoke = |key: &str| {
        app.request(Method::DELETE, &format!("/api/v1/gateways/{gid}/keys/{kid}"), Some(key)).send()
    };
    let b = app.tenant("b").await;
    expect_problem(revoke(&b.key).await.unwrap(), 404, "not_found").await;
    assert_eq!(revoke(&t.key).await.unwrap().status(), 204);
    let listed = app.get_json(&format!("/api/v1/gateways/{gid}/keys"), &t.key).await;
    assert!(listed["items"][0]["revoked_at"].is_string(), "{listed}");
}

#[sqlx::test]
async fn the_worker_purges_calls_past_the_retention_period(db: PgPool) {
    let app = TestApp::spawn(db.clone()).await;
    let t = app.tenant("a").await;
    let g = create_gateway(&app, &t.key, "team").await;
    let gid: uuid::Uuid = g["id"].as_str().unwrap().parse().unwrap();
    for (alias, age_days) in [("old", 31), ("recent", 29), ("new", 0)] {
        sqlx::query(
            "INSERT INTO gateway_calls (id, tenant_id, gateway_id, alias, status, duration_ms, created_at)
             VALUES ($1, $2, $3, $4, 'success', 1, now() - make_interval(days => $5))",
        )
        .bind(uuid::Uuid::now_v7())
        .bind(t.id)
        .bind(gid)
        .bind(alias)
        .bind(age_days)
        .execute(&db)
        .await
        .unwrap();
    }
    let report = switchboard::worker::tick(&crate::support::worker(&app.state)).await.unwrap();
    assert_eq!(report.purged_gateway_calls, 1, "{report:?}");
    let logs = app.get_json(&format!("/api/v1/gateways/{gid}/logs"), &t.key).await;
    let left: Vec<&str> =
        logs["items"].as_array().unwrap().iter().map(|c| c["alias"].as_str().unwrap()).collect();
    assert_eq!(left, ["new", "recent"], "the default retention is 30 days");
}

#[sqlx::test]
async fn a_bulk_add_adds_the_valid_names_and_names_the_others(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let names = ["ok_tool", "has space", "slash/name", "ünïcode"];
    let (t, _upstream, connector) = setup_with(&app, "a", many_tools(names.len(), |i| names[i].into())).await;
    let g = create_gateway(&app, &t.key, "team").await;
    let gid = g["id"].as_str().unwrap();
    let path = format!("/api/v1/gateways/{gid}/tools/bulk");
    let bulk = || app.post_json(&path, &t.key, json!({"connector_id": connector}));
    let invalid = |done: &Value| {
        let mut names: Vec<String> = done["invalid_names"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_str().unwrap().to_owned())
            .collect();
        names.sort();
        names
    };
    let done = expect_json(bulk().await, 200).await;
    assert_eq!(done["added"], 1, "{done}");
    assert_eq!(invalid(&done), ["has space", "slash/name", "ünïcode"]);
    let listed = app.get_json(&format!("/api/v1/gateways/{gid}/tools"), &t.key).await;
    assert_eq!(aliases(&listed), ["ok_tool"], "no invalid alias was added");

    // Added one by one under an alias, a tool is no longer reported.
    let res = add_tool(
        &app,
        &t.key,
        gid,
        json!({"connector_id": connector, "tool": "has space", "alias": "has_space"}),
    )
    .await;
    expect_json(res, 201).await;
    let again = expect_json(bulk().await, 200).await;
    assert_eq!(
        (again["added"].as_u64(), invalid(&again)),
        (Some(0), vec!["slash/name".into(), "ünïcode".into()])
    );
}

#[sqlx::test]
async fn concurrent_adds_cannot_pass_the_tool_limit_together(db: PgPool) {
    let app = TestApp::spawn(db.clone()).await;
    let (t, _upstream, connector) = setup_with(&app, "a", many_tools(20, |i| format!("t{i:02}"))).await;
    let g = create_gateway(&app, &t.key, "team").await;
    let gid = g["id"].as_str().unwrap();
    // Ten places left of the limit (2000).
    sqlx::query(
        "INSERT INTO gateway_tools (id, gateway_id, connector_id, tool_name, alias)
         SELECT gen_random_uuid(), $1::uuid, $2::uuid, 'filler' || i, 'filler' || i FROM generate_series(1, 1990) i",
    )
    .bind(gid)
    .bind(&connector)
    .execute(&db)
    .await
    .unwrap();
    let adds = (0..20)
        .map(|i| add_tool(&app, &t.key, gid, json!({"connector_id": connector, "tool": format!("t{i:02}")})));
    let statuses: Vec<u16> =
        futures_util::future::join_all(adds).await.iter().map(|r| r.status().as_u16()).collect();
    let created = statuses.iter().filter(|s| **s == 201).count();
    assert_eq!(created, 10, "{statuses:?}");
    assert!(statuses.iter().all(|s| [201, 409].contains(s)), "{statuses:?}");
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM gateway_tools WHERE gateway_id = $1::uuid")
        .bind(gid)
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(count, 2000);
    let bulk = app
        .post_json(&format!("/api/v1/gateways/{gid}/tools/bulk"), &t.key, json!({"connector_id": connector}))
        .await;
    expect_problem(bulk, 409, "too_many_tools").await;
}
