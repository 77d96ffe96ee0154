//! Connect with static credentials and client credentials, and disconnect, against real
//! upstream MCP servers and a real authorization server on 127.0.0.1.

use base64::Engine as _;
use reqwest::Method;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::support::auth_server::{AsConfig, AuthServer};
use crate::support::mcp_server::{Guard, McpServer};
use crate::support::{TestApp, TestTenant, expect_json, expect_problem};

async fn connect(app: &TestApp, t: &TestTenant, id: &str, body: Value) -> reqwest::Response {
    app.post_json(&format!("/api/v1/connectors/{id}/connect"), &t.key, body).await
}

async fn created(app: &TestApp, t: &TestTenant, url: &str, auth: Value) -> String {
    let c = app.create_connector(&t.key, json!({"url": url, "auth": auth})).await;
    c["id"].as_str().unwrap().to_owned()
}

#[sqlx::test]
async fn static_credentials_connect_and_are_injected(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let t = app.tenant("a").await;
    let basic = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("svc:pa:ss"));
    let cases = [
        (Guard::Authorization("Bearer tok-123".into()), json!({"mode": "bearer", "token": "tok-123"})),
        (Guard::Authorization(basic), json!({"mode": "basic", "username": "svc", "password": "pa:ss"})),
        (
            Guard::Header("x-api-key", "key-9".into()),
            json!({"mode": "header", "header_name": "X-Api-Key", "value": "key-9"}),
        ),
        (Guard::Open, json!({"mode": "none"})),
    ];
    for (guard, auth) in cases {
        let upstream = McpServer::spawn(guard).await;
        let id = created(&app, &t, &upstream.url, auth.clone()).await;
        let c = expect_json(connect(&app, &t, &id, json!({})).await, 200).await;
        assert_eq!(c["status"], "connected", "{auth}");
        assert_eq!(c["server_info"]["name"], "switchboard-test-upstream");
        assert!(c["server_info"]["protocol_version"].is_string());
        assert!(c["server_info"]["capabilities"]["tools"].is_object());
        assert!(!upstream.seen().is_empty());
    }
}

#[sqlx::test]
async fn a_connect_body_is_optional(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let t = app.tenant("a").await;
    let upstream = McpServer::spawn(Guard::Open).await;
    let id = created(&app, &t, &upstream.url, json!({"mode": "none"})).await;
    let res = app
        .request(Method::POST, &format!("/api/v1/connectors/{id}/connect"), Some(&t.key))
        .send()
        .await
        .unwrap();
    assert_eq!(expect_json(res, 200).await["status"], "connected");
}

#[sqlx::test]
async fn rejected_credentials_are_422_and_change_nothing(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let t = app.tenant("a").await;
    let upstream = McpServer::spawn(Guard::Authorization("Bearer right".into())).await;
    let id = created(&app, &t, &upstream.url, json!({"mode": "bearer", "token": "wrong"})).await;
    let problem = expect_problem(connect(&app, &t, &id, json!({})).await, 422, "credentials_rejected").await;
    assert!(problem["detail"].as_str().unwrap().contains("401"));
    assert!(!problem.to_string().contains("wrong"), "the credential is not echoed");
    let c = app.get_json(&format!("/api/v1/connectors/{id}"), &t.key).await;
    assert_eq!(c["status"], "created");

    // A server that needs credentials when none are configured is the same mistake.
    let id = created(&app, &t, &upstream.url, json!({"mode": "none"})).await;
    expect_problem(connect(&app, &t, &id, json!({})).await, 422, "credentials_rejected").await;

    // A `none` connector has no static credential to replace.
    let path = format!("/api/v1/connectors/{id}");
    let res = app
        .request(Method::PATCH, &path, Some(&t.key))
        .json(&json!({"auth": {"mode": "bearer", "token": "right"}}))
        .send()
        .await
        .unwrap();
    expect_problem(res, 409, "auth_not_replaceable").await;
}

#[sqlx::test]
async fn unreachable_upstreams_are_502_and_change_nothing(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let t = app.tenant("a").await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let id = created(&app, &t, &format!("http://{closed}/mcp"), json!({"mode": "none"})).await;
    expect_problem(connect(&app, &t, &id, json!({})).await, 502, "upstream_unreachable").await;
    let c = app.get_json(&format!("/api/v1/connectors/{id}"), &t.key).await;
    assert_eq!(c["status"], "created");
}

#[sqlx::test]
async fn private_upstreams_are_refused_unless_allowed(db: PgPool) {
    let app = TestApp::spawn_public(db, |s| s.allow_private_networks = false).await;
    let t = app.tenant("a").await;
    let upstream = McpServer::spawn(Guard::Open).await;
    let id = created(&app, &t, &upstream.url, json!({"mode": "none"})).await;
    expect_problem(connect(&app, &t, &id, json!({})).await, 400, "destination_not_allowed").await;
    assert!(upstream.seen().is_empty(), "no request reached the private address");
    let res =
        app.post_json("/api/v1/discovery", &t.key, json!({"url": "http://169.254.169.254/latest"})).await;
    expect_problem(res, 400, "destination_not_allowed").await;
}

#[sqlx::test]
async fn client_credentials_get_a_token_for_the_resource_and_connect(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let t = app.tenant("a").await;
    let auth_server = AuthServer::spawn(AsConfig::default()).await;
    auth_server.preregister("machine", Some("machine-secret"), "client_secret_post", "http://unused");
    let upstream = McpServer::spawn(Guard::OAuth { server: auth_server.clone(), scope: Some("tools") }).await;
    let id = created(
        &app,
        &t,
        &upstream.url,
        json!({"mode": "oauth2_client_credentials", "client_id": "machine", "client_secret": "machine-secret",
               "token_endpoint_auth_method": "client_secret_post"}),
    )
    .await;
    let c = expect_json(connect(&app, &t, &id, json!({})).await, 200).await;
    assert_eq!(c["status"], "connected");
    assert_eq!(c["auth"]["has_token"], true);
    assert!(c["token_expires_at"].is_string());
    assert!(!c.to_string().contains("machine-secret"));

    let state = auth_server.state.lock().unwrap();
    let grants = state.token_requests_of("client_credentials");
    assert_eq!(grants.len(), 1);
    assert_eq!(grants[0]["resource"], upstream.url, "RFC 8707 resource names the MCP server");
    assert_eq!(grants[0]["scope"], "tools", "the challenge's scope is requested");
    assert_eq!(grants[0]["client_secret"], "machine-secret");
}

#[sqlx::test]
async fn wrong_client_secret_is_credentials_rejected(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let t = app.tenant("a").await;
    let auth_server = AuthServer::spawn(AsConfig::default()).await;
    auth_server.preregister("machine", Some("right"), "client_secret_basic", "http://unused");
    let upstream = McpServer::spawn(Guard::OAuth { server: auth_server.clone(), scope: None }).await;
    let id = created(
        &app,
        &t,
        &upstream.url,
        json!({"mode": "oauth2_client_credentials", "client_id": "machine", "client_secret": "wrong"}),
    )
    .await;
    expect_problem(connect(&app, &t, &id, json!({})).await, 422, "credentials_rejected").await;
    assert_eq!(app.get_json(&format!("/api/v1/connectors/{id}"), &t.key).await["status"], "created");
}

#[sqlx::test]
async fn disconnect_erases_credentials_use_and_can_reconnect(db: PgPool) {
    let app = TestApp::spawn(db.clone()).await;
    let t = app.tenant("a").await;
    let upstream = McpServer::spawn(Guard::Authorization("Bearer tok".into())).await;
    let id = created(&app, &t, &upstream.url, json!({"mode": "bearer", "token": "tok"})).await;
    let res = app.post_json(&format!("/api/v1/connectors/{id}/disconnect"), &t.key, json!({})).await;
    expect_problem(res, 409, "not_connected").await;

    expect_json(connect(&app, &t, &id, json!({})).await, 200).await;
    let res = app
        .request(Method::POST, &format!("/api/v1/connectors/{id}/disconnect"), Some(&t.key))
        .send()
        .await
        .unwrap();
    let c = expect_json(res, 200).await;
    assert_eq!(c["status"], "disconnected");
    assert_eq!(c["disconnect_reason"]["code"], "user_requested");
    // The static credential is configuration, not a grant: it stays for the next connect.
    assert_eq!(c["auth"]["has_token"], true);
    let c = expect_json(connect(&app, &t, &id, json!({})).await, 200).await;
    assert_eq!(c["status"], "connected");
    assert_eq!(c["disconnect_reason"], Value::Null);
}

#[sqlx::test]
async fn legacy_sse_upstreams_connect_through_their_endpoint_event(db: PgPool) {
    use crate::support::legacy_sse::LegacySseServer;
    let app = TestApp::spawn(db).await;
    let t = app.tenant("a").await;
    let upstream = LegacySseServer::spawn(Some("Bearer legacy"), None).await;
    let c = app
        .create_connector(
            &t.key,
            json!({"url": upstream.url, "transport": "sse", "auth": {"mode": "bearer", "token": "legacy"}}),
        )
        .await;
    let c = expect_json(connect(&app, &t, c["id"].as_str().unwrap(), json!({})).await, 200).await;
    assert_eq!(c["status"], "connected");
    assert_eq!(c["server_info"]["name"], "legacy-sse-test");
    assert_eq!(c["server_info"]["protocol_version"], "2024-11-05");

    // Discovery through the SSE transport sees the same server.
    let open = LegacySseServer::spawn(None, None).await;
    let d = expect_json(
        app.post_json("/api/v1/discovery", &t.key, json!({"url": open.url, "transport": "sse"})).await,
        200,
    )
    .await;
    assert_eq!(d["server_info"]["name"], "legacy-sse-test", "{d}");

    // An endpoint event pointing at another origin is refused: no credentials leave for it.
    let elsewhere = LegacySseServer::spawn(None, Some("http://127.0.0.2:9/messages")).await;
    let c = app
        .create_connector(&t.key, json!({"url": elsewhere.url, "transport": "sse", "auth": {"mode": "none"}}))
        .await;
    let problem = expect_problem(
        connect(&app, &t, c["id"].as_str().unwrap(), json!({})).await,
        502,
        "upstream_protocol_error",
    )
    .await;
    assert!(problem["detail"].as_str().unwrap().contains("another origin"));
}
