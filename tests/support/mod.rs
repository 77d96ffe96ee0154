//! Test harness: the real router served over real HTTP on 127.0.0.1, against the fresh
//! database that `#[sqlx::test]` hands each test.

#![allow(dead_code)] // each test module uses a different subset

pub mod auth_server;
pub mod binary;
pub mod legacy_sse;
pub mod mcp_server;
pub mod node;
pub mod private_pg;
pub mod raw_mcp;
pub mod rest_api;
pub mod scripted_mcp;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use reqwest::{Client, Method, RequestBuilder, Response};
use serde_json::{Value, json};
use sqlx::PgPool;
use switchboard::config::Settings;
use switchboard::connectors::Presets;
use switchboard::http::AppState;
use switchboard::platform::crypto::Keyring;
use uuid::Uuid;

pub const ADMIN_TOKEN: &str = "test-operator-token-0123456789";

pub struct TestApp {
    pub addr: SocketAddr,
    pub client: Client,
    pub state: AppState,
}

/// A tenant created through the admin API, with its all-scopes key.
pub struct TestTenant {
    pub id: Uuid,
    pub key: String,
}

pub fn test_keyring(id: &str) -> Keyring {
    Keyring::parse(&Keyring::generate_entry(id)).unwrap()
}

pub fn test_settings() -> Settings {
    Settings {
        admin_token: Some(ADMIN_TOKEN.to_owned().into()),
        allow_private_networks: true,
        ..Settings::default()
    }
}

impl TestApp {
    pub async fn spawn(db: PgPool) -> Self {
        Self::spawn_with(AppState::new(db, test_keyring("test"), Presets::builtin(), test_settings())).await
    }

    pub async fn spawn_with(state: AppState) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::serve(listener, state).await
    }

    /// A second replica: another server on the same database and keyring, with caches,
    /// refresh locks and a gateway call-log writer of its own.
    pub async fn replica(&self) -> Self {
        let state = AppState {
            caches: Default::default(),
            refresh_locks: Default::default(),
            call_log: switchboard::gateway::call_log::CallLog::spawn(self.state.db.clone()),
            ..self.state.clone()
        };
        Self::spawn_with(state).await
    }

    /// An app whose public URL is its own address (so OAuth callbacks reach it), with the
    /// settings adjusted by `configure`.
    pub async fn spawn_public(db: PgPool, configure: impl FnOnce(&mut Settings)) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut settings = test_settings();
        settings.public_url = url::Url::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
        configure(&mut settings);
        Self::serve(listener, AppState::new(db, test_keyring("test"), Presets::builtin(), settings)).await
    }

    /// A handle on a server already listening at `addr` (the real binary); `state` is only
    /// good for its database.
    pub fn attach(addr: SocketAddr, db: PgPool) -> Self {
        let state = AppState::new(db, test_keyring("test"), Presets::builtin(), test_settings());
        Self { addr, client: Client::new(), state }
    }

    /// Serves `state` and returns once its caches are live, so tests run the path production
    /// runs once warm.
    async fn serve(listener: tokio::net::TcpListener, state: AppState) -> Self {
        let addr = listener.local_addr().unwrap();
        let serving = state.clone();
        tokio::spawn(async move {
            switchboard::http::serve(listener, serving, std::future::pending()).await.unwrap()
        });
        let deadline = Instant::now() + Duration::from_secs(10);
        while !state.caches.is_live() {
            assert!(Instant::now() < deadline, "the cache invalidation listener never connected");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        Self { addr, client: Client::new(), state }
    }

    pub async fn post_json(&self, path: &str, key: &str, body: Value) -> Response {
        self.request(Method::POST, path, Some(key)).json(&body).send().await.unwrap()
    }

    pub async fn get_json(&self, path: &str, key: &str) -> Value {
        expect_json(self.request(Method::GET, path, Some(key)).send().await.unwrap(), 200).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn request(&self, method: Method, path: &str, key: Option<&str>) -> RequestBuilder {
        let req = self.client.request(method, self.url(path));
        match key {
            Some(key) => req.bearer_auth(key),
            None => req,
        }
    }

    pub async fn tenant(&self, name: &str) -> TestTenant {
        let res = self
            .request(Method::POST, "/api/v1/admin/tenants", Some(ADMIN_TOKEN))
            .json(&json!({ "name": name }))
            .send()
            .await
            .unwrap();
        let body = expect_json(res, 201).await;
        TestTenant {
            id: body["tenant_id"].as_str().unwrap().parse().unwrap(),
            key: body["api_key"].as_str().unwrap().to_owned(),
        }
    }

    /// Replaces `tenant`'s rate-limit overrides (`{"api_rps": 0}` lifts the API limit).
    pub async fn patch_limits(&self, tenant: &TestTenant, limits: Value) -> reqwest::Response {
        self.request(Method::PATCH, &format!("/api/v1/admin/tenants/{}", tenant.id), Some(ADMIN_TOKEN))
            .json(&json!({ "limits": limits }))
            .send()
            .await
            .unwrap()
    }

    /// An extra key for `tenant` with just these scopes.
    pub async fn key_with_scopes(&self, tenant: &TestTenant, scopes: &[&str]) -> String {
        let res = self
            .request(Method::POST, "/api/v1/api-keys", Some(&tenant.key))
            .json(&json!({ "scopes": scopes }))
            .send()
            .await
            .unwrap();
        expect_json(res, 201).await["api_key"].as_str().unwrap().to_owned()
    }

    /// Creates a connector. Discovery is off unless the body asks for it: these tests have
    /// no upstream to discover.
    pub async fn create_connector(&self, key: &str, mut body: Value) -> Value {
        if body.get("discover").is_none() {
            body["discover"] = Value::Bool(false);
        }
        let res =
            self.request(Method::POST, "/api/v1/connectors", Some(key)).json(&body).send().await.unwrap();
        expect_json(res, 201).await
    }
}

/// What the background worker of `state`'s process runs with.
pub fn worker(state: &AppState) -> switchboard::worker::Context {
    switchboard::worker::Context { connectors: state.connectors(), shutdown: state.shutdown.clone() }
}

/// Creates an authorization-code connector for `upstream_url` and completes its flow
/// (DCR, PKCE, browser, callback). Returns the connected connector's id.
pub async fn connected_oauth_connector(app: &TestApp, key: &str, upstream_url: &str) -> String {
    let c = app
        .create_connector(key, json!({"url": upstream_url, "auth": {"mode": "oauth2_authorization_code"}}))
        .await;
    let id = c["id"].as_str().unwrap().to_owned();
    let res = app.post_json(&format!("/api/v1/connectors/{id}/connect"), key, json!({})).await;
    let pending = expect_json(res, 200).await;
    let page = authorize_in_browser(pending["authorization_url"].as_str().unwrap()).await;
    assert_eq!(page.status(), 200);
    id
}

/// Serves a test server's router on `listener`, with TCP_NODELAY like the real service
/// (without it, replies written in pieces wait ~40 ms on Nagle's algorithm).
pub fn serve_local(listener: tokio::net::TcpListener, router: axum::Router) {
    use axum::serve::ListenerExt as _;
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
}

/// Plays the person's browser: opens the authorization URL, lets the authorization server
/// redirect, and follows that one redirect to our callback. Returns the callback's answer.
pub async fn authorize_in_browser(authorization_url: &str) -> Response {
    let browser = Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let at_as = browser.get(authorization_url).send().await.unwrap();
    assert!(at_as.status().is_redirection(), "the AS redirects back: {:?}", at_as.text().await);
    let callback = at_as.headers()["location"].to_str().unwrap().to_owned();
    browser.get(callback).send().await.unwrap()
}

/// Asserts the status and returns the JSON body (printing it when the status is wrong).
pub async fn expect_json(res: Response, status: u16) -> Value {
    let actual = res.status().as_u16();
    let text = res.text().await.unwrap();
    assert_eq!(actual, status, "unexpected status; body: {text}");
    if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap() }
}

/// Asserts a problem+json response with this status and code; returns the body.
pub async fn expect_problem(res: Response, status: u16, code: &str) -> Value {
    let content_type = res.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned());
    let body = expect_json(res, status).await;
    assert_eq!(content_type.as_deref(), Some("application/problem+json"), "body: {body}");
    assert_eq!(body["code"], code, "body: {body}");
    assert_eq!(body["status"], status);
    body
}

/// The URL of the database `pool` is connected to, for running the binary against it.
pub fn database_url(pool: &PgPool) -> String {
    let base = std::env::var("DATABASE_URL").expect("DATABASE_URL is set for tests");
    let mut url = url::Url::parse(&base).unwrap();
    url.set_path(pool.connect_options().get_database().expect("test pools name their database"));
    url.to_string()
}
