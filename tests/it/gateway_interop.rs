//! Gateways with MCP clients nobody here wrote: the TypeScript SDK v1 and v2 clients and the
//! Python SDK client reach two upstreams (npm `server-everything`, and an rmcp server that
//! accepts only OAuth access tokens of a real authorization server) through one gateway URL,
//! with the key as a header and as `?apiKey=`.

use std::path::Path;

use serde_json::{Value, json};
use sqlx::PgPool;

use super::gateway::{add_tool, create_gateway, issue_key, setup, setup_oauth};
use crate::support::node::{NodeServer, free_port, interop_packages};
use crate::support::{TestApp, expect_json};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Runs an interop client and returns the JSON line it printed. On the blocking pool: the
/// test's runtime must stay free to serve the client's requests.
pub async fn run(program: std::path::PathBuf, args: Vec<String>) -> Value {
    let out = tokio::task::spawn_blocking(move || std::process::Command::new(program).args(args).output())
        .await
        .unwrap()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "client failed: {}\n{stdout}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_str(stdout.lines().last().unwrap()).unwrap()
}

/// The text of every result, in call order.
fn texts(report: &Value) -> Vec<String> {
    report["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["content"][0]["text"].as_str().unwrap_or("").to_owned())
        .collect()
}

#[sqlx::test]
async fn sdk_clients_of_both_languages_and_eras_use_two_upstreams_through_one_gateway(db: PgPool) {
    let Some(packages) = interop_packages() else { return };
    let Some(python) = crate::support::node::interop_python() else { return };
    let app = TestApp::spawn_public(db, |_| {}).await;
    let t = app.tenant("interop").await;
    let (auth_server, oauth_upstream, oauth_connector) = setup_oauth(&app, &t.key).await;
    let port = free_port();
    let script = packages.join("@modelcontextprotocol/server-everything/dist/index.js");
    let _everything = NodeServer::start(
        &script,
        &["streamableHttp"],
        &[("PORT", port.to_string())],
        &format!("http://127.0.0.1:{port}/"),
    )
    .await;
    let c = app
        .create_connector(
            &t.key,
            json!({"url": format!("http://127.0.0.1:{port}/mcp"), "auth": {"mode": "none"}}),
        )
        .await;
    let everything = c["id"].as_str().unwrap();
    let res = app.post_json(&format!("/api/v1/connectors/{everything}/connect"), &t.key, json!({})).await;
    assert_eq!(expect_json(res, 200).await["status"], "connected");

    let g = create_gateway(&app, &t.key, "interop").await;
    let gid = g["id"].as_str().unwrap();
    for (connector, tool, alias, enabled) in [
        (everything, "echo", "everything_echo", true),
        (oauth_connector.as_str(), "echo", "say", true),
        (oauth_connector.as_str(), "fail", "fail", false),
    ] {
        let body = json!({"connector_id": connector, "tool": tool, "alias": alias, "enabled": enabled});
        expect_json(add_tool(&app, &t.key, gid, body).await, 201).await;
    }
    let key = issue_key(&app, &t.key, gid, json!({"name": "interop"})).await["api_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let url = app.url("/api/v1/gateways/interop/mcp");
    let calls =
        json!([["everything_echo", {"message": "hello everything"}], ["say", {"message": "hello rmcp"}]])
            .to_string();

    let node = |sdk: &str, where_: &str| {
        (
            std::path::PathBuf::from("node"),
            vec![
                root().join("interop/gateway_client.mjs").display().to_string(),
                sdk.into(),
                url.clone(),
                key.clone(),
                where_.into(),
                calls.clone(),
            ],
        )
    };
    let mut runs = Vec::new();
    for where_ in ["header", "query"] {
        runs.push((format!("ts-v1/{where_}"), node("v1", where_)));
        runs.push((format!("ts-v2/{where_}"), node("v2", where_)));
        for mode in ["auto", "legacy"] {
            let args = vec![
                root().join("interop/gateway_client.py").display().to_string(),
                url.clone(),
                key.clone(),
                where_.into(),
                mode.into(),
                calls.clone(),
            ];
            runs.push((format!("python-{mode}/{where_}"), (python.clone(), args)));
        }
    }
    for (name, (program, args)) in runs {
        let report = run(program, args).await;
        eprintln!("{name}: {report}");
        assert_eq!(report["tools"], json!(["everything_echo", "say"]), "{name}: exactly the enabled aliases");
        assert_eq!(report["instructions"], "Use these tools for the team.", "{name}");
        let texts = texts(&report);
        assert!(texts[0].contains("hello everything"), "{name}: {report}");
        assert_eq!(report["results"][1]["structuredContent"]["message"], "hello rmcp", "{name}: {report}");
    }
    // Every call reached the OAuth upstream with the one access token the connector was
    // granted, which its authorization server issued for that upstream.
    let tokens: std::collections::HashSet<String> = oauth_upstream.seen().into_iter().flatten().collect();
    assert_eq!(tokens.len(), 1, "{tokens:?}");
    let token = tokens.iter().next().unwrap().strip_prefix("Bearer ").unwrap();
    assert!(auth_server.accepts(token, &oauth_upstream.url));
    let logs = app.get_json(&format!("/api/v1/gateways/{gid}/logs?status=success&limit=200"), &t.key).await;
    assert_eq!(logs["items"].as_array().unwrap().len(), 16, "two calls by each of eight runs");
}

/// Over its key's rate, the Python SDK client's calls fail with the reason Switchboard gave:
/// the 429's JSON-RPC error (decision 0070), not the SDK's stand-in for an HTTP error.
#[sqlx::test]
async fn the_python_sdk_tells_its_caller_why_a_call_was_rate_limited(db: PgPool) {
    let Some(python) = crate::support::node::interop_python() else { return };
    let app = TestApp::spawn(db).await;
    let (t, _upstream, connector) = setup(&app, "limited").await;
    let gid = create_gateway(&app, &t.key, "limited").await["id"].as_str().unwrap().to_owned();
    let body = json!({"connector_id": connector, "tool": "echo", "alias": "say"});
    expect_json(add_tool(&app, &t.key, &gid, body).await, 201).await;
    let patch = app.request(reqwest::Method::PATCH, &format!("/api/v1/gateways/{gid}"), Some(&t.key));
    expect_json(patch.json(&json!({"key_rps": 1, "key_burst": 3})).send().await.unwrap(), 200).await;
    let key = issue_key(&app, &t.key, &gid, json!({})).await["api_key"].as_str().unwrap().to_owned();
    // Discovery and the list take two of the burst of 3; at one a second, 30 quick calls
    // cannot all get through.
    let calls = json!(vec![json!(["say", {"message": "hi"}]); 30]).to_string();
    let args = vec![
        root().join("interop/gateway_client.py").display().to_string(),
        app.url("/api/v1/gateways/limited/mcp"),
        key,
        "header".into(),
        "auto".into(),
        calls,
    ];
    let report = run(python, args).await;
    let refused: Vec<&str> =
        report["results"].as_array().unwrap().iter().filter_map(|r| r["error"].as_str()).collect();
    assert!(!refused.is_empty(), "{report}");
    for reason in refused {
        assert!(reason.contains("over its rate limit at this gateway"), "{reason}");
    }
}
