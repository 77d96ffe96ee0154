//! Interop with MCP implementations nobody here wrote (npm packages under `interop/`).

use serde_json::json;
use sqlx::PgPool;

use crate::support::node::{NodeServer, free_port, interop_packages};
use crate::support::{TestApp, TestTenant, authorize_in_browser, expect_json};

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

/// Runs the TypeScript SDK client (`interop/client.mjs`) against `url` with `key`. On the
/// blocking pool: the test's runtime must stay free to serve the client's requests.
async fn run_sdk_client(url: &str, transport: &str, key: &str) -> serde_json::Value {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("interop/client.mjs");
    let args = [url.to_owned(), transport.to_owned(), key.to_owned()];
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("node").arg(script).args(args).output()
    })
    .await
    .unwrap()
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "client failed: {}\n{stdout}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_str(stdout.lines().last().unwrap()).unwrap()
}

/// `@modelcontextprotocol/server-everything` behind the proxy, reached by the TypeScript SDK
/// client, over Streamable HTTP and over the legacy SSE transport.
#[sqlx::test]
async fn sdk_client_uses_server_everything_through_the_proxy(db: PgPool) {
    let Some(packages) = interop_packages() else { return };
    let script = packages.join("@modelcontextprotocol/server-everything/dist/index.js");
    let app = TestApp::spawn(db).await;
    let t = app.tenant("interop").await;
    for (mode, transport, path, endpoint) in
        [("streamableHttp", "streamable_http", "/mcp", "mcp"), ("sse", "sse", "/sse", "sse")]
    {
        let (_server, upstream, id) = connect_everything(&app, &t, &script, mode, transport, path).await;
        let id = id.as_str();
        let res = app.post_json(&format!("/api/v1/connectors/{id}/connect"), &t.key, json!({})).await;
        let connected = expect_json(res, 200).await;
        assert_eq!(connected["status"], "connected", "{mode}: {connected}");

        // The same client, straight to the upstream and through the proxy, sees the same.
        let direct = run_sdk_client(&upstream, transport, "unused").await;
        let proxied = app.url(&format!("/api/v1/connectors/{id}/{endpoint}"));
        let report = run_sdk_client(&proxied, transport, &t.key).await;
        assert_eq!(report["server"], direct["server"], "{mode}");
        assert_eq!(report["tools"], direct["tools"], "{mode}");
        assert_eq!(report["echo"], direct["echo"], "{mode}");
        assert!(
            report["echo"][0]["text"].as_str().unwrap().contains("hello through the proxy"),
            "{mode}: {report}"
        );
        let tools: Vec<&str> =
            report["tools"].as_array().unwrap().iter().map(|t| t.as_str().unwrap()).collect();
        assert!(tools.contains(&"trigger-long-running-operation"), "{mode}: {tools:?}");
        // Progress over one second arrives spread out, as sent. The first three steps come
        // before completion; server-everything sends the fourth at the same instant as the
        // result, so whether a client still counts it is a race upstream (direct runs vary too).
        let progress: Vec<u64> =
            report["progress_ms"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect();
        assert!((3..=4).contains(&progress.len()), "{mode}: {progress:?}");
        assert!(
            progress[progress.len() - 1] - progress[0] >= 400,
            "{mode}: progress arrived in a burst: {progress:?}"
        );
    }
}

/// The tool catalog against `@modelcontextprotocol/server-everything` over both transports:
/// sync (and how long it takes), read a schema, call `echo` directly, and have a bad argument
/// refused before the upstream.
/// Starts server-everything in `mode` and creates a connector (no auth) for it: the server,
/// its MCP URL and the connector id.
async fn connect_everything(
    app: &TestApp,
    t: &TestTenant,
    script: &std::path::Path,
    mode: &str,
    transport: &str,
    path: &str,
) -> (NodeServer, String, String) {
    let port = free_port();
    let upstream = format!("http://127.0.0.1:{port}{path}");
    let server = NodeServer::start(
        script,
        &[mode],
        &[("PORT", port.to_string())],
        &format!("http://127.0.0.1:{port}/"),
    )
    .await;
    let c = app
        .create_connector(&t.key, json!({"url": upstream, "transport": transport, "auth": {"mode": "none"}}))
        .await;
    (server, upstream, c["id"].as_str().unwrap().to_owned())
}

#[sqlx::test]
async fn tool_catalog_syncs_and_calls_server_everything(db: PgPool) {
    let Some(packages) = interop_packages() else { return };
    let script = packages.join("@modelcontextprotocol/server-everything/dist/index.js");
    let app = TestApp::spawn(db).await;
    let t = app.tenant("interop").await;
    for (mode, transport, path) in [("streamableHttp", "streamable_http", "/mcp"), ("sse", "sse", "/sse")] {
        let (_server, _, id) = connect_everything(&app, &t, &script, mode, transport, path).await;
        let id = id.as_str();
        let res = app.post_json(&format!("/api/v1/connectors/{id}/connect"), &t.key, json!({})).await;
        assert_eq!(expect_json(res, 200).await["status"], "connected", "{mode}");

        let started = std::time::Instant::now();
        let res = app.post_json(&format!("/api/v1/connectors/{id}/sync"), &t.key, json!({})).await;
        let report = expect_json(res, 200).await;
        let wall = started.elapsed();
        let count = report["tool_count"].as_u64().unwrap();
        eprintln!(
            "server-everything ({mode}): sync of {count} tools took {} ms (request {} ms)",
            report["duration_ms"],
            wall.as_millis()
        );
        assert!(count >= 5, "{mode}: {report}");
        assert_eq!(report["unchanged"]["count"], count, "{mode}: the connect already synced: {report}");

        let echo = app.get_json(&format!("/api/v1/connectors/{id}/tools/echo"), &t.key).await;
        assert_eq!(echo["input_schema"]["properties"]["message"]["type"], "string", "{mode}: {echo}");
        let call_path = format!("/api/v1/connectors/{id}/tools/echo/call");
        let call =
            |arguments: serde_json::Value| app.post_json(&call_path, &t.key, json!({"arguments": arguments}));
        let result = expect_json(call(json!({"message": "hello catalog"})).await, 200).await;
        assert!(result["content"][0]["text"].as_str().unwrap().contains("hello catalog"), "{mode}: {result}");
        assert_eq!(result["isError"], false);
        let res = call(json!({"message": 7})).await;
        crate::support::expect_problem(res, 400, "validation_failed").await;
    }
}
