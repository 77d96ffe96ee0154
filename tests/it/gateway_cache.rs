//! Each replica keeps its own copy of a gateway and its tools (decision 0068): a change made
//! through one replica — a tool renamed, disabled or added, a catalog synced, the gateway's
//! slug changed — is what the other replica's next `tools/list` and `tools/call` see, within
//! a second (LISTEN/NOTIFY), once both have served the gateway from their copies.

use std::future::Future;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};
use sqlx::PgPool;

use super::gateway::{add_tool, catalog, create_gateway, issue_key, setup_with};
use crate::support::raw_mcp::RawMcp;
use crate::support::{TestApp, expect_json};

/// Polls `seen` until it holds; fails when it still does not after a second.
async fn within_a_second<F: Future<Output = bool>>(what: &str, mut seen: impl FnMut() -> F) {
    let started = Instant::now();
    while !seen().await {
        assert!(started.elapsed() < Duration::from_secs(1), "{what}: not seen after a second");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    eprintln!("{what}: seen by the other replica in {} ms", started.elapsed().as_millis());
}

fn names(list: &Value) -> Vec<String> {
    let tools = list["result"]["tools"].as_array().unwrap();
    tools.iter().map(|t| t["name"].as_str().unwrap().to_owned()).collect()
}

/// The tool names `mcp` lists.
async fn listed(mcp: &RawMcp) -> Vec<String> {
    names(&mcp.call(1, "tools/list", json!({})).await)
}

/// The answer to calling `alias` with a message.
async fn called(mcp: &RawMcp, alias: &str) -> Value {
    mcp.call(2, "tools/call", json!({"name": alias, "arguments": {"message": "hi"}})).await
}

fn is_unknown(answer: &Value) -> bool {
    answer["error"]["code"] == -32602
}

#[sqlx::test]
async fn a_tool_renamed_disabled_or_added_on_one_replica_is_seen_by_the_other(db: PgPool) {
    let one = TestApp::spawn(db).await;
    let two = one.replica().await;
    let (t, _upstream, connector) = setup_with(&one, "a", catalog()).await;
    let gid = create_gateway(&one, &t.key, "team").await["id"].as_str().unwrap().to_owned();
    let body = json!({"connector_id": connector, "tool": "echo", "alias": "say"});
    let tool = expect_json(add_tool(&one, &t.key, &gid, body).await, 201).await;
    let key = issue_key(&one, &t.key, &gid, json!({})).await["api_key"].as_str().unwrap().to_owned();
    let mut mcp = RawMcp::new(&two.url("/api/v1/gateways/team/mcp"), &key);
    mcp.initialize().await;
    // Warm: both the list and the alias are in two's copy.
    assert_eq!(listed(&mcp).await, ["say"]);
    assert_eq!(called(&mcp, "say").await["result"]["structuredContent"]["message"], "hi");

    let path = format!("/api/v1/gateways/{gid}/tools/{}", tool["id"].as_str().unwrap());
    let patch = |body: Value| one.request(Method::PATCH, &path, Some(&t.key)).json(&body).send();
    expect_json(patch(json!({"alias": "speak"})).await.unwrap(), 200).await;
    within_a_second("the rename, in tools/list", || async { listed(&mcp).await == ["speak"] }).await;
    within_a_second("the rename, in tools/call", || async { is_unknown(&called(&mcp, "say").await) }).await;
    assert_eq!(called(&mcp, "speak").await["result"]["structuredContent"]["message"], "hi");

    expect_json(patch(json!({"enabled": false})).await.unwrap(), 200).await;
    within_a_second("the disabling, in tools/list", || async { listed(&mcp).await.is_empty() }).await;
    within_a_second("the disabling, in tools/call", || async { is_unknown(&called(&mcp, "speak").await) })
        .await;

    let body = json!({"connector_id": connector, "tool": "fail", "alias": "again"});
    expect_json(add_tool(&one, &t.key, &gid, body).await, 201).await;
    within_a_second("the addition, in tools/list", || async { listed(&mcp).await == ["again"] }).await;
    let failed = mcp.call(3, "tools/call", json!({"name": "again", "arguments": {}})).await;
    assert_eq!(failed["result"]["content"][0]["text"], "it failed", "the upstream's fail: {failed}");
}

#[sqlx::test]
async fn a_catalog_sync_and_a_new_slug_on_one_replica_reach_the_other(db: PgPool) {
    let one = TestApp::spawn(db).await;
    let two = one.replica().await;
    let upstream_catalog = catalog();
    let (t, _upstream, connector) = setup_with(&one, "a", upstream_catalog.clone()).await;
    let gid = create_gateway(&one, &t.key, "team").await["id"].as_str().unwrap().to_owned();
    let body = json!({"connector_id": connector, "tool": "echo", "alias": "say"});
    expect_json(add_tool(&one, &t.key, &gid, body).await, 201).await;
    let key = issue_key(&one, &t.key, &gid, json!({})).await["api_key"].as_str().unwrap().to_owned();
    let mut mcp = RawMcp::new(&two.url("/api/v1/gateways/team/mcp"), &key);
    mcp.initialize().await;
    let description = |list: Value| list["result"]["tools"][0]["description"].clone();
    assert_eq!(description(mcp.call(1, "tools/list", json!({})).await), "Echo the arguments");

    // The upstream's catalog changes and replica one syncs it.
    let mut tools = catalog().tools();
    tools[0].description = Some("Echo, described anew".into());
    upstream_catalog.set_tools(tools);
    let synced = one.post_json(&format!("/api/v1/connectors/{connector}/sync"), &t.key, json!({})).await;
    assert!(synced.status().is_success(), "{}", synced.status());
    within_a_second("the synced catalog", || async {
        description(mcp.call(1, "tools/list", json!({})).await) == "Echo, described anew"
    })
    .await;

    // The gateway's slug changes on replica one: two answers only the new URL.
    let res = one.request(Method::PATCH, &format!("/api/v1/gateways/{gid}"), Some(&t.key));
    expect_json(res.json(&json!({"slug": "renamed"})).send().await.unwrap(), 200).await;
    let ping = json!({"jsonrpc": "2.0", "method": "ping", "id": 3});
    within_a_second("the new slug", || async { mcp.post(ping.clone()).await.status() == 401 }).await;
    let renamed = RawMcp::new(&two.url("/api/v1/gateways/renamed/mcp"), &key);
    assert_eq!(called(&renamed, "say").await["result"]["structuredContent"]["message"], "hi");
}
