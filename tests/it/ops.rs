//! Operations: metrics, request ids, logs without secrets, rate limits, graceful shutdown,
//! and `switchboard check-config`. What needs a whole process (signals, exit codes, its own
//! logs and metrics registry) runs the real binary.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::response::IntoResponse;
use axum::response::sse::{Event, Sse};
use axum::routing::post;
use futures_util::StreamExt as _;
use reqwest::Method;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::support::auth_server::{AsConfig, AuthServer};
use crate::support::binary::Switchboard;
use crate::support::legacy_sse::LegacySseServer;
use crate::support::mcp_server::{Guard, McpServer};
use crate::support::raw_mcp::RawMcp;
use crate::support::{
    ADMIN_TOKEN, TestApp, TestTenant, connected_oauth_connector, expect_json, expect_problem, serve_local,
};

/// The value of the sample `name{…}` whose labels include all of `labels`.
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines().filter(|l| !l.starts_with('#')).find_map(|line| {
        let (series, value) = line.rsplit_once(' ')?;
        let (metric, rest) = series.split_once('{').unwrap_or((series, ""));
        let matches = metric == name
            && labels.iter().all(|(k, v)| {
                rest.split(',').any(|pair| pair.trim_end_matches('}') == format!("{k}=\"{v}\""))
            });
        matches.then(|| value.parse().unwrap())
    })
}

async fn scrape(app: &TestApp) -> String {
    let res = app.request(Method::GET, "/metrics", None).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    res.text().await.unwrap()
}

async fn connect(app: &TestApp, t: &TestTenant, body: Value) -> String {
    let c = app.create_connector(&t.key, body).await;
    let id = c["id"].as_str().unwrap().to_owned();
    let res = app.post_json(&format!("/api/v1/connectors/{id}/connect"), &t.key, json!({})).await;
    assert_eq!(expect_json(res, 200).await["status"], "connected");
    id
}

#[sqlx::test]
async fn metrics_have_bounded_labels_and_count_a_scripted_run(db: PgPool) {
    let sb = Switchboard::start(&db, &[]).await;
    let app = &sb.app;
    let t = app.tenant("a").await;
    let upstream = McpServer::spawn(Guard::Authorization("Bearer upstream-token".into())).await;
    let id =
        connect(app, &t, json!({"url": upstream.url, "auth": {"mode": "bearer", "token": "upstream-token"}}))
            .await;
    // The connect's tool sync went upstream through the same path: count from here.
    let upstream_2xx = |text: &str| {
        sample(text, "switchboard_proxy_upstream_requests_total", &[("outcome", "2xx")]).unwrap_or(0.0)
    };
    let upstream_timed =
        |text: &str| sample(text, "switchboard_proxy_upstream_duration_seconds_count", &[]).unwrap_or(0.0);
    let before = scrape(app).await;
    let mut mcp = RawMcp::new(&app.url(&format!("/api/v1/connectors/{id}/mcp")), &t.key);
    mcp.initialize().await; // POST 200 (initialize), POST 202 (initialized)
    mcp.call(1, "tools/list", json!({})).await; // POST 200
    let missing = uuid::Uuid::now_v7();
    let res = app
        .request(Method::GET, &format!("/api/v1/connectors/{missing}"), Some(&t.key))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let res = app.request(Method::GET, "/no/such/route", None).send().await.unwrap();
    assert_eq!(res.status(), 404);

    let text = scrape(app).await;
    let mcp_route = [("route", "/api/v1/connectors/{id}/mcp"), ("method", "POST")];
    let http = |status: &str| {
        let mut labels = mcp_route.to_vec();
        labels.push(("status", status));
        sample(&text, "switchboard_http_requests_total", &labels)
    };
    assert_eq!(http("200"), Some(2.0), "{text}");
    assert_eq!(http("202"), Some(1.0));
    assert_eq!(sample(&text, "switchboard_http_request_duration_seconds_count", &mcp_route), Some(3.0));
    let not_found = [("route", "/api/v1/connectors/{id}"), ("method", "GET"), ("status", "404")];
    assert_eq!(sample(&text, "switchboard_http_requests_total", &not_found), Some(1.0));
    let unmatched = [("route", "unmatched"), ("status", "404")];
    assert_eq!(sample(&text, "switchboard_http_requests_total", &unmatched), Some(1.0));
    assert_eq!(upstream_2xx(&text) - upstream_2xx(&before), 3.0, "{text}");
    assert_eq!(upstream_timed(&text) - upstream_timed(&before), 3.0);
    assert!(sample(&text, "switchboard_proxy_bytes_total", &[("direction", "in")]).unwrap() > 100.0);
    assert!(sample(&text, "switchboard_proxy_bytes_total", &[("direction", "out")]).unwrap() > 100.0);
    assert_eq!(sample(&text, "switchboard_connectors", &[("status", "connected")]), Some(1.0));
    assert_eq!(sample(&text, "switchboard_connectors", &[("status", "disconnected")]), Some(0.0));
    assert!(sample(&text, "switchboard_db_pool_connections", &[]).unwrap() >= 1.0);
    assert!(sample(&text, "switchboard_db_pool_idle_connections", &[]).is_some());
    assert!(sample(&text, "switchboard_worker_loop_lag_seconds_count", &[]).unwrap() >= 1.0);
    assert!(sample(&text, "switchboard_worker_claimed_batch_size_count", &[]).unwrap() >= 1.0);
    // Nothing unbounded or tenant-chosen in labels.
    for value in
        [t.id.to_string(), id.clone(), missing.to_string(), upstream.addr.to_string(), "/no/such".into()]
    {
        assert!(!text.contains(&value), "{value} appears in the metrics");
    }
}

#[sqlx::test]
async fn metrics_can_have_a_listener_of_their_own(db: PgPool) {
    let port = crate::support::node::free_port();
    let listen = format!("127.0.0.1:{port}");
    let sb = Switchboard::start(&db, &[("SWITCHBOARD_METRICS_LISTEN", &listen)]).await;
    let res = sb.app.request(Method::GET, "/metrics", None).send().await.unwrap();
    expect_problem(res, 404, "not_found").await;
    let text = reqwest::get(format!("http://{listen}/metrics")).await.unwrap().text().await.unwrap();
    assert!(sample(&text, "switchboard_db_pool_connections", &[]).is_some(), "{text}");
}

#[sqlx::test]
async fn request_ids_are_honoured_or_generated_and_returned(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let res =
        app.request(Method::GET, "/healthz", None).header("x-request-id", "trace-42").send().await.unwrap();
    assert_eq!(res.headers()["x-request-id"], "trace-42");
    let res = app.request(Method::GET, "/api/v1/connectors", Some("sk_unknown")).send().await.unwrap();
    let generated = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert!(generated.parse::<uuid::Uuid>().is_ok(), "{generated}");
    expect_problem(res, 401, "unauthorized").await;
    // An id too long to be an id is replaced, not logged and echoed.
    let res = app
        .request(Method::GET, "/healthz", None)
        .header("x-request-id", "x".repeat(300))
        .send()
        .await
        .unwrap();
    assert!(res.headers()["x-request-id"].to_str().unwrap().parse::<uuid::Uuid>().is_ok());
}

/// A connect (authorization code: discovery, DCR, PKCE, callback), proxied calls, and a
/// refresh on an upstream 401, through the real binary at `debug`.
#[sqlx::test]
async fn a_full_oauth_run_logs_no_secret_and_counts_its_oauth_calls(db: PgPool) {
    let sb = Switchboard::start(&db, &[("RUST_LOG", "debug")]).await;
    let app = &sb.app;
    let t = app.tenant("a").await;
    let auth_server = AuthServer::spawn(AsConfig::default()).await;
    let upstream = McpServer::spawn(Guard::OAuth { server: auth_server.clone(), scope: None }).await;
    let id = connected_oauth_connector(app, &t.key, &upstream.url).await;
    let mut mcp = RawMcp::new(&app.url(&format!("/api/v1/connectors/{id}/mcp")), &t.key);
    mcp.initialize().await;
    let first_tokens: Vec<String> =
        auth_server.state.lock().unwrap().access_tokens.drain().map(|(t, _)| t).collect();
    // The upstream now answers 401: the proxy refreshes and retries.
    let echoed = mcp.call(1, "tools/call", json!({"name": "echo", "arguments": {"message": "hi"}})).await;
    assert_eq!(echoed["result"]["content"][0]["text"], "hi");

    let mut secrets = vec![t.key.clone(), ADMIN_TOKEN.to_owned()];
    secrets.extend(first_tokens);
    {
        let s = auth_server.state.lock().unwrap();
        secrets.extend(s.access_tokens.keys().cloned());
        secrets.extend(s.clients.values().filter_map(|c| c.secret.clone()));
        secrets.extend(s.refresh_tokens.keys().cloned());
        for (form, authorization) in &s.token_requests {
            for field in ["code", "code_verifier", "refresh_token", "client_secret"] {
                secrets.extend(form.get(field).cloned());
            }
            secrets.extend(authorization.clone());
        }
    }
    assert!(secrets.len() >= 6, "the run produced every kind of secret: {secrets:?}");
    let text = scrape(app).await;
    let logs = sb.logs();
    assert!(logs.contains(&format!("tenant_id={}", t.id)), "requests name their tenant: {logs}");
    assert!(logs.contains(&format!("connector_id={id}")), "requests name their connector");
    assert!(logs.contains("upstream answered"), "upstream calls are logged");
    assert!(logs.contains("request_id="));
    for secret in secrets.iter().filter(|s| s.len() >= 8) {
        assert!(!logs.contains(secret.as_str()), "a secret appears in the logs: {secret}");
    }

    let token = |grant: &str| {
        sample(&text, "switchboard_oauth_token_requests_total", &[("grant", grant), ("outcome", "success")])
    };
    assert_eq!(token("authorization_code"), Some(1.0), "{text}");
    assert_eq!(token("refresh_token"), Some(1.0));
    assert_eq!(sample(&text, "switchboard_oauth_registrations_total", &[("outcome", "success")]), Some(1.0));
    let refreshed = [("trigger", "rejected"), ("outcome", "refreshed")];
    assert_eq!(sample(&text, "switchboard_oauth_refreshes_total", &refreshed), Some(1.0));
    assert_eq!(
        sample(&text, "switchboard_proxy_upstream_requests_total", &[("outcome", "unauthorized")]),
        Some(1.0)
    );
}

fn retry_after(res: &reqwest::Response) -> u64 {
    res.headers()["retry-after"].to_str().unwrap().parse().unwrap()
}

#[sqlx::test]
async fn a_tenant_over_its_api_limit_gets_429_with_retry_after_then_recovers(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let (a, b) = (app.tenant("a").await, app.tenant("b").await);
    let bad =
        expect_problem(app.patch_limits(&a, json!({"api_rps": -1})).await, 400, "validation_failed").await;
    assert_eq!(bad["errors"][0]["field"], "limits.api_rps");
    let tenant = expect_json(app.patch_limits(&a, json!({"api_rps": 1, "api_burst": 3})).await, 200).await;
    assert_eq!(tenant["limits"]["api_rps"], 1);
    assert_eq!(tenant["limits"]["proxy_rps"], Value::Null, "unset overrides use the defaults");

    let list = || app.request(Method::GET, "/api/v1/connectors", Some(&a.key)).send();
    let mut admitted = 0;
    let limited = loop {
        let res = list().await.unwrap();
        if res.status() == 429 {
            break res;
        }
        assert_eq!(res.status(), 200);
        admitted += 1;
        assert!(admitted <= 10, "one request per second cannot admit ten at once");
    };
    assert!(admitted >= 3, "the burst is admitted");
    let wait = retry_after(&limited);
    assert!((1..=2).contains(&wait), "{wait}");
    let problem = expect_problem(limited, 429, "rate_limited").await;
    assert!(problem["detail"].as_str().unwrap().contains("api rate limit"));
    let other = app.request(Method::GET, "/api/v1/connectors", Some(&b.key)).send().await.unwrap();
    assert_eq!(other.status(), 200, "other tenants are not affected");

    tokio::time::sleep(Duration::from_secs(wait)).await;
    assert_eq!(list().await.unwrap().status(), 200, "after Retry-After the tenant gets through");
    let reset = expect_json(app.patch_limits(&a, json!({})).await, 200).await;
    assert_eq!(reset["limits"]["api_rps"], Value::Null);
}

#[sqlx::test]
async fn proxy_streams_and_requests_are_capped_per_tenant(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let t = app.tenant("a").await;
    let upstream = LegacySseServer::spawn(None, None).await;
    let id =
        connect(&app, &t, json!({"url": upstream.url, "transport": "sse", "auth": {"mode": "none"}})).await;
    expect_json(app.patch_limits(&t, json!({"proxy_streams": 1})).await, 200).await;
    let open = || app.request(Method::GET, &format!("/api/v1/connectors/{id}/sse"), Some(&t.key)).send();

    let first = open().await.unwrap();
    assert_eq!(first.status(), 200);
    let refused = open().await.unwrap();
    assert!(retry_after(&refused) >= 1);
    expect_problem(refused, 429, "rate_limited").await;
    drop(first); // the caller goes away: its slot frees once the server sees it
    let started = Instant::now();
    while open().await.unwrap().status() != 200 {
        assert!(started.elapsed() < Duration::from_secs(30), "the slot was never freed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    expect_json(
        app.patch_limits(&t, json!({"proxy_rps": 1, "proxy_burst": 1, "proxy_streams": 0})).await,
        200,
    )
    .await;
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(open().await.unwrap().status().as_u16());
    }
    assert!(statuses.contains(&429), "{statuses:?}");
}

/// An upstream whose POSTs wait until released (a slow request) and whose GET is an event
/// stream that never ends on its own.
async fn held_upstream(release: Arc<tokio::sync::Notify>, arrived: Arc<tokio::sync::Notify>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    let slow = move || async move {
        arrived.notify_one();
        release.notified().await;
        axum::Json(json!({"jsonrpc": "2.0", "id": 1, "result": {"slow": "done"}})).into_response()
    };
    let stream = || async {
        let events =
            futures_util::stream::once(async { Ok::<_, Infallible>(Event::default().data("hello")) })
                .chain(futures_util::stream::pending());
        Sse::new(events).into_response()
    };
    let router: Router = Router::new().route("/mcp", post(slow).get(stream));
    serve_local(listener, router);
    url
}

#[sqlx::test]
async fn sigterm_drains_then_finishes_requests_ends_streams_and_exits_0(db: PgPool) {
    let mut sb = Switchboard::start(
        &db,
        &[("SWITCHBOARD_SHUTDOWN_DELAY", "5s"), ("SWITCHBOARD_SHUTDOWN_TIMEOUT", "60s")],
    )
    .await;
    let app = &sb.app;
    let t = app.tenant("a").await;
    let (release, arrived) = (Arc::new(tokio::sync::Notify::new()), Arc::new(tokio::sync::Notify::new()));
    let url = held_upstream(release.clone(), arrived.clone()).await;
    let c = app.create_connector(&t.key, json!({"url": url, "auth": {"mode": "none"}})).await;
    let id = c["id"].as_str().unwrap().to_owned();
    sqlx::query("UPDATE connectors SET status = 'connected'").execute(&db).await.unwrap();
    let mcp_url = app.url(&format!("/api/v1/connectors/{id}/mcp"));

    let stream = app.client.get(&mcp_url).bearer_auth(&t.key).send().await.unwrap();
    assert_eq!(stream.status(), 200);
    let mut stream = stream.bytes_stream();
    assert!(String::from_utf8_lossy(&stream.next().await.unwrap().unwrap()).contains("hello"));
    let slow = tokio::spawn(app.client.post(&mcp_url).bearer_auth(&t.key).json(&json!({"id": 1})).send());
    arrived.notified().await; // the slow request is in flight

    sb.terminate();
    let app = &sb.app;
    let started = Instant::now();
    loop {
        let res = app.request(Method::GET, "/readyz", None).send().await.unwrap();
        if res.status() == 503 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(5), "/readyz never turned not-ready");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // After the delay the listener closes and the standalone stream ends cleanly.
    while let Some(chunk) = stream.next().await {
        chunk.expect("the stream ends cleanly, not with an error");
    }
    let fresh = reqwest::Client::new(); // no pooled connection: a new one must be refused
    let started = Instant::now();
    while fresh.get(app.url("/healthz")).send().await.is_ok() {
        assert!(started.elapsed() < Duration::from_secs(10), "the listener stays open");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    release.notify_one();
    let slow = slow.await.unwrap().unwrap();
    assert_eq!(slow.status(), 200, "the in-flight request completes");
    assert_eq!(slow.json::<Value>().await.unwrap()["result"]["slow"], "done");
    let status = sb.wait(Duration::from_secs(60)).await;
    assert_eq!(status.code(), Some(0), "{}", sb.logs());
    let logs = sb.logs();
    assert!(logs.contains("shutting down") && logs.contains("stopped"), "{logs}");
}

fn check_config(db_url: &str, env: &[(&str, &str)]) -> (bool, String) {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"));
    command.arg("check-config").env("DATABASE_URL", db_url).env("RUST_LOG", "warn");
    command
        .env("SWITCHBOARD_ENCRYPTION_KEYS", switchboard::platform::crypto::Keyring::generate_entry("test"));
    for (name, value) in env {
        command.env(name, value);
    }
    let out = command.output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

#[sqlx::test]
async fn check_config_reports_each_problem_and_fails_on_any(db: PgPool) {
    let url = crate::support::database_url(&db);
    let (ok, text) = check_config(&url, &[]);
    assert!(ok, "{text}");
    assert!(text.contains("ok    database") && text.contains("ok    migrations"), "{text}");
    assert!(text.contains("configuration OK"), "{text}");
    let (_, text) = check_config(&url, &[("SWITCHBOARD_TOOL_RESYNC_INTERVAL", "15m")]);
    assert!(text.contains("periodic tool resync 15m"), "{text}");
    let (_, text) = check_config(
        &url,
        &[("SWITCHBOARD_HTTP_IDLE_TIMEOUT", "0"), ("SWITCHBOARD_CACHE_OUTAGE_GRACE", "1m")],
    );
    assert!(text.contains("header read 10s, request body idle 30s, keep-alive idle none"), "{text}");
    assert!(text.contains("served for 1m"), "{text}");

    let (ok, text) = check_config(&url, &[("SWITCHBOARD_ENCRYPTION_KEYS", "k1:not-base64")]);
    assert!(!ok && text.contains("FAIL  keyring"), "{text}");
    let (ok, text) = check_config(&url, &[("SWITCHBOARD_PUBLIC_URL", "ftp://example.com")]);
    assert!(!ok && text.contains("FAIL  public URL"), "{text}");
    let (ok, text) = check_config(&url, &[("SWITCHBOARD_REDIRECT_ALLOWLIST", "https://a.example/path")]);
    assert!(!ok && text.contains("FAIL  redirect allow-list"), "{text}");
    let (ok, text) = check_config(&url, &[("SWITCHBOARD_PRESETS", "[{\"name\": 1}]")]);
    assert!(!ok && text.contains("FAIL  presets"), "{text}");
    let (ok, text) = check_config("postgres://postgres@127.0.0.1:1/switchboard", &[]);
    assert!(!ok && text.contains("FAIL  database"), "{text}");
    assert!(text.contains("start PostgreSQL or set DATABASE_URL"), "{text}");

    // A secret sealed with a key the keyring no longer has.
    let app = TestApp::spawn(db).await;
    let t = app.tenant("a").await;
    app.create_connector(
        &t.key,
        json!({"url": "https://mcp.example.com/mcp", "auth": {"mode": "bearer", "token": "x"}}),
    )
    .await;
    let (ok, text) = check_config(
        &url,
        &[("SWITCHBOARD_ENCRYPTION_KEYS", &switchboard::platform::crypto::Keyring::generate_entry("new"))],
    );
    assert!(!ok && text.contains("FAIL  keys in use") && text.contains("\"test\""), "{text}");
}
