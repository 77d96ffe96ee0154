//! Both MCP eras as a client: connect, discovery, sync and direct calls against servers
//! nobody here wrote, started by the tests: the TypeScript SDK v2 server
//! (`@modelcontextprotocol/server` 2.4.0) modern-only and dual-era, and the TypeScript SDK v1
//! `server-everything` (2025-era only).

use serde_json::{Value, json};
use sqlx::PgPool;

use crate::support::node::{NodeServer, free_port, interop_packages};
use crate::support::raw_mcp::modern_meta;
use crate::support::{TestApp, TestTenant, expect_json};

/// `interop/modern_server.mjs` in `era` (`modern` or `dual`), requiring `token` if given.
async fn ts_v2_server(era: &str, token: Option<&str>) -> (NodeServer, String) {
    let port = free_port();
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("interop/modern_server.mjs");
    let mut env = vec![("PORT", port.to_string()), ("ERA", era.to_owned())];
    env.extend(token.map(|t| ("TOKEN", t.to_owned())));
    let server = NodeServer::start(&script, &[], &env, &format!("http://127.0.0.1:{port}/")).await;
    (server, format!("http://127.0.0.1:{port}/mcp"))
}

/// Creates (with discovery), connects, syncs and calls `echo`; returns the connector.
async fn connect_sync_call(app: &TestApp, t: &TestTenant, url: &str, auth: Value, label: &str) -> Value {
    let created = app.create_connector(&t.key, json!({"url": url, "auth": auth, "discover": true})).await;
    let d = &created["discovery_result"];
    let warnings = d["warnings"].as_array().cloned().unwrap_or_default();
    assert!(!warnings.iter().any(|w| w.as_str().unwrap().contains("sse")), "{label}: {d}");
    let id = created["id"].as_str().unwrap();
    let res = app.post_json(&format!("/api/v1/connectors/{id}/connect"), &t.key, json!({})).await;
    let connected = expect_json(res, 200).await;
    assert_eq!(connected["status"], "connected", "{label}: {connected}");

    let res = app.post_json(&format!("/api/v1/connectors/{id}/sync"), &t.key, json!({})).await;
    let report = expect_json(res, 200).await;
    assert!(report["tool_count"].as_u64().unwrap() >= 1, "{label}: {report}");
    let call = json!({"arguments": {"message": "both eras"}});
    let res = app.post_json(&format!("/api/v1/connectors/{id}/tools/echo/call"), &t.key, call).await;
    let result = expect_json(res, 200).await;
    assert!(result["content"][0]["text"].as_str().unwrap().contains("both eras"), "{label}: {result}");
    app.get_json(&format!("/api/v1/connectors/{id}"), &t.key).await
}

/// Every POST the server logged, and whether any of them was an `initialize`.
fn requests(server: &NodeServer) -> Vec<Value> {
    let lines = server.json_lines();
    lines
        .into_iter()
        .filter(|l| l["method"] == "POST")
        .map(|l| {
            let body: Value = serde_json::from_str(l["body"].as_str().unwrap()).unwrap_or_default();
            json!({"headers": l["headers"], "body": body})
        })
        .collect()
}

#[sqlx::test]
async fn ts_v2_servers_connect_sync_and_call_at_2026_07_28(db: PgPool) {
    if interop_packages().is_none() {
        return;
    }
    let app = TestApp::spawn(db).await;
    let t = app.tenant("eras").await;
    for (era, token) in
        [("modern", None), ("modern", Some("tok-v2")), ("dual", None), ("dual", Some("tok-v2"))]
    {
        let label = format!("{era}, token {token:?}");
        let (server, url) = ts_v2_server(era, token).await;
        let auth = match token {
            Some(token) => json!({"mode": "bearer", "token": token}),
            None => json!({"mode": "none"}),
        };
        let c = connect_sync_call(&app, &t, &url, auth, &label).await;
        assert_eq!(c["protocol_version"], "2026-07-28", "{label}: {c}");
        assert_eq!(c["server_info"]["name"], format!("ts-v2-{era}"), "{label}: {c}");
        assert_eq!(c["server_info"]["instructions"], "echoes", "{label}: {c}");

        // The modern wire: no initialize, headers mirroring the body, `_meta` on every request.
        let seen = requests(&server);
        assert!(seen.iter().any(|r| r["body"]["method"] == "tools/call"), "{label}: {seen:?}");
        for r in &seen {
            let (method, headers) = (&r["body"]["method"], &r["headers"]);
            assert_ne!(method, "initialize", "{label}: {r}");
            assert_eq!(&headers["mcp-method"], method, "{label}: {r}");
            assert_eq!(headers["mcp-protocol-version"], "2026-07-28", "{label}: {r}");
            let meta = &r["body"]["params"]["_meta"];
            assert_eq!(meta["io.modelcontextprotocol/protocolVersion"], "2026-07-28", "{label}: {r}");
            assert_eq!(meta["io.modelcontextprotocol/clientInfo"]["name"], "switchboard", "{label}: {r}");
            assert!(meta["io.modelcontextprotocol/clientCapabilities"].is_object(), "{label}: {r}");
            if method == "tools/call" {
                assert_eq!(headers["mcp-name"], "echo", "{label}: {r}");
            }
        }
    }
}

/// Marks connector `id` as last spoken at `version` (as if the upstream had answered so).
async fn remember_version(app: &TestApp, id: &str, version: &str) {
    sqlx::query("UPDATE connectors SET server_info = jsonb_set(server_info, '{protocol_version}', to_jsonb($2::text)) WHERE id = $1::uuid")
        .bind(id)
        .bind(version)
        .execute(&app.state.db)
        .await
        .unwrap();
}

#[sqlx::test]
async fn sessions_use_the_era_last_spoken_and_fall_back_when_it_changed(db: PgPool) {
    if interop_packages().is_none() {
        return;
    }
    let app = TestApp::spawn(db).await;
    let t = app.tenant("eras").await;
    for era in ["dual", "modern"] {
        let (server, url) = ts_v2_server(era, None).await;
        let c = connect_sync_call(&app, &t, &url, json!({"mode": "none"}), era).await;
        let id = c["id"].as_str().unwrap();
        remember_version(&app, id, "2025-11-25").await;
        let before = requests(&server).len();
        let res = app.post_json(&format!("/api/v1/connectors/{id}/sync"), &t.key, json!({})).await;
        expect_json(res, 200).await;
        let methods: Vec<Value> =
            requests(&server)[before..].iter().map(|r| r["body"]["method"].clone()).collect();
        assert_eq!(methods[0], "initialize", "{era}: a legacy connector skips server/discover: {methods:?}");
        let c = app.get_json(&format!("/api/v1/connectors/{id}"), &t.key).await;
        if era == "dual" {
            assert!(!methods.contains(&json!("server/discover")), "{methods:?}");
            assert_eq!(c["protocol_version"], "2025-11-25");
        } else {
            // The upstream no longer speaks 2025: refused, then both eras, and it is remembered.
            assert!(methods.contains(&json!("server/discover")), "{methods:?}");
            assert_eq!(c["protocol_version"], "2026-07-28");
        }
    }
}

#[sqlx::test]
async fn a_2025_only_server_connects_syncs_and_calls_at_2025_11_25(db: PgPool) {
    let Some(packages) = interop_packages() else { return };
    let script = packages.join("@modelcontextprotocol/server-everything/dist/index.js");
    let port = free_port();
    let ready = format!("http://127.0.0.1:{port}/");
    let _server =
        NodeServer::start(&script, &["streamableHttp"], &[("PORT", port.to_string())], &ready).await;
    let app = TestApp::spawn(db).await;
    let t = app.tenant("eras").await;
    let url = format!("http://127.0.0.1:{port}/mcp");
    let c = connect_sync_call(&app, &t, &url, json!({"mode": "none"}), "server-everything").await;
    assert_eq!(c["protocol_version"], "2025-11-25", "{c}");
}

/// A modern POST of `method` with `params` (plus `_meta`) and the headers given.
fn modern_post(
    url: &str,
    key: &str,
    method: &str,
    params: Value,
    headers: &[(&str, &str)],
) -> reqwest::RequestBuilder {
    let mut params = params;
    params["_meta"] = modern_meta();
    let mut request = reqwest::Client::new()
        .post(url)
        .bearer_auth(key)
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", method)
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request
}

async fn status_and_body(res: reqwest::Response) -> (u16, String) {
    (res.status().as_u16(), res.text().await.unwrap())
}

/// The next SSE `data:` payload on `res` that mentions `needle`, within five seconds.
async fn next_event_with(res: &mut reqwest::Response, needle: &str) -> String {
    let read = async {
        let mut text = String::new();
        while let Some(chunk) = res.chunk().await.unwrap() {
            text.push_str(&String::from_utf8_lossy(&chunk));
            if let Some(line) = text.lines().find(|l| l.starts_with("data:") && l.contains(needle)) {
                return line.to_owned();
            }
        }
        panic!("the stream ended before {needle}: {text}");
    };
    tokio::time::timeout(std::time::Duration::from_secs(5), read).await.expect("streamed, not buffered")
}

#[sqlx::test]
async fn the_proxy_passes_the_modern_wire_through_unchanged(db: PgPool) {
    if interop_packages().is_none() {
        return;
    }
    let app = TestApp::spawn(db).await;
    let t = app.tenant("eras").await;
    let (server, upstream) = ts_v2_server("modern", None).await;
    let c = app.create_connector(&t.key, json!({"url": upstream, "auth": {"mode": "none"}})).await;
    let id = c["id"].as_str().unwrap();
    let res = app.post_json(&format!("/api/v1/connectors/{id}/connect"), &t.key, json!({})).await;
    assert_eq!(expect_json(res, 200).await["status"], "connected");
    let proxied = app.url(&format!("/api/v1/connectors/{id}/mcp"));

    // Every MCP header reaches the upstream, an Mcp-Param-* it has never heard of included.
    let extra = [("mcp-param-region", "eu-west")];
    let res = modern_post(&proxied, &t.key, "server/discover", json!({}), &extra).send().await.unwrap();
    let discovered = expect_json(res, 200).await;
    assert_eq!(discovered["result"]["supportedVersions"], json!(["2026-07-28"]), "{discovered}");
    let seen = requests(&server);
    let last = &seen.last().unwrap()["headers"];
    assert_eq!(last["mcp-method"], "server/discover", "{last}");
    assert_eq!(last["mcp-protocol-version"], "2026-07-28", "{last}");
    assert_eq!(last["mcp-param-region"], "eu-west", "{last}");

    // Modern errors in a 400 arrive as the upstream sent them, so a client can act on them.
    let mismatch = json!({"name": "echo", "arguments": {"message": "x"}});
    let name = [("mcp-name", "not-echo")];
    let legacy = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "old", "version": "1"}}});
    for (label, direct, through) in [
        (
            "-32020",
            modern_post(&upstream, "unused", "tools/call", mismatch.clone(), &name),
            modern_post(&proxied, &t.key, "tools/call", mismatch.clone(), &name),
        ),
        (
            "-32022",
            reqwest::Client::new()
                .post(&upstream)
                .header("accept", "application/json, text/event-stream")
                .json(&legacy),
            reqwest::Client::new()
                .post(&proxied)
                .bearer_auth(&t.key)
                .header("accept", "application/json, text/event-stream")
                .json(&legacy),
        ),
    ] {
        let direct = status_and_body(direct.send().await.unwrap()).await;
        let through = status_and_body(through.send().await.unwrap()).await;
        assert_eq!(direct.0, 400, "{label}: {direct:?}");
        assert!(direct.1.contains(label), "{label}: {direct:?}");
        let parse = |body: &str| serde_json::from_str::<Value>(body).unwrap();
        assert_eq!((through.0, parse(&through.1)), (direct.0, parse(&direct.1)), "{label}");
    }

    // A modern-only server's 405 to GET is relayed.
    let get = reqwest::Client::new().get(&proxied).bearer_auth(&t.key).header("accept", "text/event-stream");
    assert_eq!(get.send().await.unwrap().status(), 405);

    // subscriptions/listen streams: the acknowledgement, then a change announced later.
    let listen = json!({"notifications": {"toolsListChanged": true}});
    let mut stream = modern_post(&proxied, &t.key, "subscriptions/listen", listen, &[]).send().await.unwrap();
    assert_eq!(stream.status(), 200);
    next_event_with(&mut stream, "notifications/subscriptions/acknowledged").await;
    let touch = json!({"name": "touch", "arguments": {}});
    let res =
        modern_post(&proxied, &t.key, "tools/call", touch, &[("mcp-name", "touch")]).send().await.unwrap();
    assert!(expect_json(res, 200).await["result"]["content"][0]["text"] == "touched");
    next_event_with(&mut stream, "notifications/tools/list_changed").await;
}
