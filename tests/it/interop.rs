//! Interop with MCP implementations nobody here wrote (npm packages under `interop/`).

use serde_json::json;
use sqlx::PgPool;

use crate::support::node::{NodeServer, free_port, interop_packages};
use crate::support::{TestApp, authorize_in_browser, expect_json};

/// The TypeScript SDK's example server with its demo OAuth authorization server: discovery,
/// DCR, PKCE authorization and the callback complete against it, and the connector connects.
#[sqlx::test]
async fn typescript_sdk_oauth_example_connects_end_to_end(db: PgPool) {
    let Some(packages) = interop_packages() else { return };
    let (mcp_port, auth_port) = (free_port(), free_port());
    let script = packages.join("@modelcontextprotocol/sdk/dist/esm/examples/server/simpleStreamableHttp.js");
    // The example names itself `localhost` everywhere (resource, issuer, Host check).
    let ready = format!("http://localhost:{auth_port}/.well-known/oauth-authorization-server");
    let _server = NodeServer::start(
        &script,
        &["--oauth"],
        &[("MCP_PORT", mcp_port.to_string()), ("MCP_AUTH_PORT", auth_port.to_string())],
        &ready,
    )
    .await;

    let app = TestApp::spawn_public(db, |_| {}).await;
    let t = app.tenant("interop").await;
    let url = format!("http://localhost:{mcp_port}/mcp");
    let created = app.create_connector(&t.key, json!({"url": url, "discover": true})).await;
    let d = &created["discovery_result"];
    assert_eq!(d["requires_auth"], true, "{d}");
    assert_eq!(d["issuer"], format!("http://localhost:{auth_port}/"));
    assert_eq!(d["resource"], url);
    assert_eq!(d["scopes"], json!(["mcp:tools"]));

    let id = created["id"].as_str().unwrap();
    let res = app.post_json(&format!("/api/v1/connectors/{id}/connect"), &t.key, json!({})).await;
    let pending = expect_json(res, 200).await;
    assert_eq!(pending["status"], "pending_authorization", "{pending}");
    let page = authorize_in_browser(pending["authorization_url"].as_str().unwrap()).await;
    let status = page.status();
    assert_eq!(status, 200, "{}", page.text().await.unwrap());

    let c = app.get_json(&format!("/api/v1/connectors/{id}"), &t.key).await;
    assert_eq!(c["status"], "connected", "{c}");
    assert_eq!(c["server_info"]["name"], "simple-streamable-http-server");
    assert_eq!(c["auth"]["has_token"], true);
}
