//! The OAuth authorization code flow end to end: discovery, DCR, PKCE, the person's browser,
//! the callback, and every way it can go wrong. Real AS and MCP servers on 127.0.0.1.

use reqwest::Method;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::support::auth_server::{AsConfig, AuthServer, MetadataAt};
use crate::support::mcp_server::{Guard, McpServer, PrmAt};
use crate::support::{TestApp, TestTenant, authorize_in_browser, expect_json, expect_problem};

struct Setup {
    app: TestApp,
    t: TestTenant,
    auth_server: AuthServer,
    upstream: McpServer,
}

async fn setup(db: PgPool, config: AsConfig) -> Setup {
    let app =
        TestApp::spawn_public(db, |s| s.redirect_allowlist = vec!["https://console.example.com".into()])
            .await;
    let t = app.tenant("a").await;
    let auth_server = AuthServer::spawn(config).await;
    let upstream =
        McpServer::spawn(Guard::OAuth { server: auth_server.clone(), scope: Some("tools:read") }).await;
    Setup { app, t, auth_server, upstream }
}

impl Setup {
    async fn create(&self, body: Value) -> Value {
        self.app.create_connector(&self.t.key, body).await
    }

    async fn connect(&self, id: &str, body: Value) -> reqwest::Response {
        self.app.post_json(&format!("/api/v1/connectors/{id}/connect"), &self.t.key, body).await
    }

    async fn connector(&self, id: &str) -> Value {
        self.app.get_json(&format!("/api/v1/connectors/{id}"), &self.t.key).await
    }

    async fn pending(&self, id: &str, body: Value) -> String {
        let c = expect_json(self.connect(id, body).await, 200).await;
        assert_eq!(c["status"], "pending_authorization", "{c}");
        assert!(c["authorization_expires_at"].is_string());
        c["authorization_url"].as_str().unwrap().to_owned()
    }

    async fn state_rows(&self) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM oauth_states").fetch_one(&self.app.state.db).await.unwrap()
    }
}

fn id_of(c: &Value) -> String {
    c["id"].as_str().unwrap().to_owned()
}

#[sqlx::test]
async fn dcr_pkce_flow_end_to_end(db: PgPool) {
    let s = setup(db, AsConfig::default()).await;
    let created = s.create(json!({"url": s.upstream.url, "discover": true})).await;
    let d = &created["discovery_result"];
    assert_eq!(d["requires_auth"], true, "{d}");
    assert_eq!(d["recommended_auth_mode"], "oauth2_authorization_code");
    assert_eq!(d["resource"], s.upstream.url);
    assert_eq!(d["issuer"], s.auth_server.issuer);
    assert_eq!(d["scopes"], json!(["tools:read"]), "the challenge's scope comes first");
    assert_eq!(d["code_challenge_methods_supported"], json!(["S256"]));
    assert!(d["register_url"].as_str().unwrap().ends_with("/register"));
    assert_eq!(created["auth"]["mode"], "oauth2_authorization_code", "hydrated from discovery");
    assert_eq!(created["auth"]["resource"], s.upstream.url);

    let id = id_of(&created);
    let authorization_url = s.pending(&id, json!({})).await;
    {
        let state = s.auth_server.state.lock().unwrap();
        assert_eq!(state.registrations.len(), 1);
        let reg = &state.registrations[0];
        assert_eq!(reg["application_type"], "web");
        assert_eq!(reg["token_endpoint_auth_method"], "client_secret_basic");
        assert_eq!(reg["grant_types"], json!(["authorization_code", "refresh_token"]));
        assert_eq!(reg["redirect_uris"], json!([s.app.url("/api/v1/oauth/callback")]));
    }
    let url = url::Url::parse(&authorization_url).unwrap();
    let q: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["resource"], s.upstream.url);
    assert_eq!(q["scope"], "tools:read");
    assert!(q["state"].len() >= 43, "at least 256 bits of state");

    let page = authorize_in_browser(&authorization_url).await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("Connected"), "{html}");

    let c = s.connector(&id).await;
    assert_eq!(c["status"], "connected");
    assert_eq!(c["server_info"]["name"], "switchboard-test-upstream");
    assert_eq!(c["auth"]["has_token"], true);
    assert_eq!(c["authorization_url"], Value::Null);
    assert!(c["token_expires_at"].is_string());
    {
        let state = s.auth_server.state.lock().unwrap();
        let exchange = state.token_requests_of("authorization_code");
        assert_eq!(exchange.len(), 1);
        assert_eq!(exchange[0]["resource"], s.upstream.url);
        assert!(exchange[0].contains_key("code_verifier"));
        assert!(
            state.token_requests[0].1.as_deref().is_some_and(|h| h.starts_with("Basic ")),
            "client_secret_basic"
        );
        // The upstream saw our token on the probe, issued for its resource.
        let last = s.upstream.seen().last().cloned().flatten().unwrap();
        assert!(state.access_tokens.contains_key(last.trim_start_matches("Bearer ")));
    }
    assert_eq!(s.state_rows().await, 0, "the state was consumed");
}

#[sqlx::test]
async fn a_second_connector_reuses_the_tenants_registration(db: PgPool) {
    let s = setup(db, AsConfig::default()).await;
    for _ in 0..2 {
        let c = s.create(json!({"url": s.upstream.url, "auth": {"mode": "oauth2_authorization_code"}})).await;
        let url = s.pending(&id_of(&c), json!({})).await;
        assert_eq!(authorize_in_browser(&url).await.status(), 200);
    }
    assert_eq!(s.auth_server.state.lock().unwrap().registrations.len(), 1);
    // Another tenant registers its own client.
    let other = s.app.tenant("b").await;
    let c = s
        .app
        .create_connector(
            &other.key,
            json!({"url": s.upstream.url, "auth": {"mode": "oauth2_authorization_code"}}),
        )
        .await;
    let res =
        s.app.post_json(&format!("/api/v1/connectors/{}/connect", id_of(&c)), &other.key, json!({})).await;
    expect_json(res, 200).await;
    assert_eq!(s.auth_server.state.lock().unwrap().registrations.len(), 2);
}

#[sqlx::test]
async fn preregistered_confidential_clients_use_basic_or_post(db: PgPool) {
    for method in ["client_secret_basic", "client_secret_post"] {
        let s = setup(db.clone(), AsConfig { registration: false, ..AsConfig::default() }).await;
        s.auth_server.preregister("pre", Some("pre-secret"), method, &s.app.url("/api/v1/oauth/callback"));
        let c = s
            .create(json!({"url": s.upstream.url, "auth": {"mode": "oauth2_authorization_code", "client_id": "pre",
                           "client_secret": "pre-secret", "token_endpoint_auth_method": method}}))
            .await;
        let url = s.pending(&id_of(&c), json!({})).await;
        assert_eq!(authorize_in_browser(&url).await.status(), 200, "{method}");
        assert_eq!(s.connector(&id_of(&c)).await["status"], "connected", "{method}");
        let state = s.auth_server.state.lock().unwrap();
        assert!(state.registrations.is_empty());
        let (form, header) = &state.token_requests[0];
        match method {
            "client_secret_basic" => assert!(
                header.as_deref().unwrap().starts_with("Basic ") && !form.contains_key("client_secret")
            ),
            _ => assert!(header.is_none() && form["client_secret"] == "pre-secret"),
        }
    }
}

#[sqlx::test]
async fn denied_authorization_redirects_with_the_error(db: PgPool) {
    let s = setup(db, AsConfig { deny: true, ..AsConfig::default() }).await;
    let c = s.create(json!({"url": s.upstream.url, "auth": {"mode": "oauth2_authorization_code"}})).await;
    let id = id_of(&c);
    let url = s.pending(&id, json!({"redirect_url": "https://console.example.com/done?tab=mcp"})).await;
    let res = authorize_in_browser(&url).await;
    assert_eq!(res.status(), 303);
    let location = url::Url::parse(res.headers()["location"].to_str().unwrap()).unwrap();
    assert_eq!(location.origin().ascii_serialization(), "https://console.example.com");
    let q: std::collections::HashMap<_, _> = location.query_pairs().into_owned().collect();
    assert_eq!(q["tab"], "mcp", "the caller's own query survives");
    assert_eq!(q["connector_id"], id);
    assert_eq!(q["error"], "access_denied");
    assert!(q["error_description"].contains("The user said"));
    let c = s.connector(&id).await;
    assert_eq!(c["status"], "disconnected");
    assert_eq!(c["disconnect_reason"]["code"], "authorization_denied");

    // Without a redirect_url the person sees an escaped page instead.
    let url = s.pending(&id, json!({})).await;
    let res = authorize_in_browser(&url).await;
    assert_eq!(res.status(), 400);
    let html = res.text().await.unwrap();
    assert!(html.contains("&lt;no&gt; &amp; meant it") && !html.contains("<no>"), "{html}");
}

#[sqlx::test]
async fn success_redirects_with_the_status(db: PgPool) {
    let s = setup(db, AsConfig::default()).await;
    let c = s.create(json!({"url": s.upstream.url, "auth": {"mode": "oauth2_authorization_code"}})).await;
    let url = s.pending(&id_of(&c), json!({"redirect_url": "https://console.example.com/back"})).await;
    let res = authorize_in_browser(&url).await;
    assert_eq!(res.status(), 303);
    let location = res.headers()["location"].to_str().unwrap();
    assert!(location.starts_with("https://console.example.com/back?"), "{location}");
    assert!(location.contains("status=connected") && location.contains(&id_of(&c)), "{location}");
}

#[sqlx::test]
async fn redirect_urls_must_be_allow_listed(db: PgPool) {
    let s = setup(db, AsConfig::default()).await;
    let c = s.create(json!({"url": s.upstream.url, "auth": {"mode": "oauth2_authorization_code"}})).await;
    let id = id_of(&c);
    for bad in ["https://evil.example.com/x", "http://console.example.com/x", "javascript:alert(1)"] {
        let res = s.connect(&id, json!({"redirect_url": bad})).await;
        assert_eq!(res.status(), 400, "{bad}");
    }
    for bad in [json!(["has space"]), json!([""]), json!(["back\\slash"])] {
        let res = s.connect(&id, json!({"scopes": bad})).await;
        let problem = expect_problem(res, 400, "validation_failed").await;
        assert_eq!(problem["errors"][0]["field"], "scopes", "{bad}");
    }
    assert_eq!(s.state_rows().await, 0, "nothing stored");
    assert_eq!(s.connector(&id).await["status"], "created");
    assert!(s.auth_server.state.lock().unwrap().registrations.is_empty());

    // The tenant's own list counts too.
    let path = format!("/api/v1/admin/tenants/{}", s.t.id);
    let res = s
        .app
        .request(Method::PATCH, &path, Some(crate::support::ADMIN_TOKEN))
        .json(&json!({"redirect_allowlist": ["https://evil.example.com"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(expect_json(res, 200).await["redirect_allowlist"], json!(["https://evil.example.com"]));
    s.pending(&id, json!({"redirect_url": "https://evil.example.com/x"})).await;
}

#[sqlx::test]
async fn replayed_forged_and_expired_states_change_nothing(db: PgPool) {
    let s = setup(db, AsConfig::default()).await;
    let c = s.create(json!({"url": s.upstream.url, "auth": {"mode": "oauth2_authorization_code"}})).await;
    let id = id_of(&c);
    let url = s.pending(&id, json!({})).await;
    let browser = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let at_as = browser.get(&url).send().await.unwrap();
    let callback = at_as.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(browser.get(&callback).send().await.unwrap().status(), 200);
    let first_token_count = s.auth_server.state.lock().unwrap().token_requests.len();

    // Replay: rejected, no second code exchange, still connected.
    let replay = browser.get(&callback).send().await.unwrap();
    assert_eq!(replay.status(), 400);
    assert!(replay.text().await.unwrap().contains("unknown, already used or expired"));
    assert_eq!(s.auth_server.state.lock().unwrap().token_requests.len(), first_token_count);
    assert_eq!(s.connector(&id).await["status"], "connected");

    // Forged state.
    let forged = s.app.url("/api/v1/oauth/callback?state=forged-state-value&code=abc");
    assert_eq!(browser.get(&forged).send().await.unwrap().status(), 400);
    let missing = s.app.url("/api/v1/oauth/callback?code=abc");
    assert_eq!(browser.get(&missing).send().await.unwrap().status(), 400);
    assert_eq!(s.connector(&id).await["status"], "connected");
}

#[sqlx::test]
async fn expired_states_are_rejected(db: PgPool) {
    let app =
        TestApp::spawn_public(db, |s| s.authorization_ttl = std::time::Duration::from_millis(300)).await;
    let t = app.tenant("a").await;
    let auth_server = AuthServer::spawn(AsConfig::default()).await;
    let upstream = McpServer::spawn(Guard::OAuth { server: auth_server.clone(), scope: None }).await;
    let c = app
        .create_connector(&t.key, json!({"url": upstream.url, "auth": {"mode": "oauth2_authorization_code"}}))
        .await;
    let id = id_of(&c);
    let res = app.post_json(&format!("/api/v1/connectors/{id}/connect"), &t.key, json!({})).await;
    let url = expect_json(res, 200).await["authorization_url"].as_str().unwrap().to_owned();
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    let res = authorize_in_browser(&url).await;
    assert_eq!(res.status(), 400);
    assert!(res.text().await.unwrap().contains("window has passed"));
    assert!(auth_server.state.lock().unwrap().token_requests.is_empty(), "no code exchange");
    assert_eq!(
        app.get_json(&format!("/api/v1/connectors/{id}"), &t.key).await["status"],
        "pending_authorization"
    );
}

#[sqlx::test]
async fn issuer_mismatch_is_rejected(db: PgPool) {
    let s =
        setup(db, AsConfig { wrong_iss: Some("https://attacker.example.com"), ..AsConfig::default() }).await;
    let c = s.create(json!({"url": s.upstream.url, "auth": {"mode": "oauth2_authorization_code"}})).await;
    let id = id_of(&c);
    let url = s.pending(&id, json!({})).await;
    let res = authorize_in_browser(&url).await;
    assert_eq!(res.status(), 400);
    assert!(res.text().await.unwrap().contains("expected authorization server"));
    assert!(s.auth_server.state.lock().unwrap().token_requests.is_empty(), "the code never left");
    assert_eq!(s.connector(&id).await["status"], "pending_authorization");
    assert_eq!(s.state_rows().await, 1, "the state survives a forged response");

    // An AS that promises `iss` but omits it is rejected too.
    let s = setup(
        s.app.state.db.clone(),
        AsConfig { send_iss: false, iss_supported: true, ..AsConfig::default() },
    )
    .await;
    let c = s.create(json!({"url": s.upstream.url, "auth": {"mode": "oauth2_authorization_code"}})).await;
    let url = s.pending(&id_of(&c), json!({})).await;
    assert_eq!(authorize_in_browser(&url).await.status(), 400);
    // One that never promised it is accepted without.
    let s = setup(
        s.app.state.db.clone(),
        AsConfig { send_iss: false, iss_supported: false, ..AsConfig::default() },
    )
    .await;
    let c = s.create(json!({"url": s.upstream.url, "auth": {"mode": "oauth2_authorization_code"}})).await;
    let url = s.pending(&id_of(&c), json!({})).await;
    assert_eq!(authorize_in_browser(&url).await.status(), 200);
}

#[sqlx::test]
async fn no_s256_means_no_authorization(db: PgPool) {
    let s = setup(db, AsConfig { advertise_s256: false, ..AsConfig::default() }).await;
    let c = s.create(json!({"url": s.upstream.url, "discover": true})).await;
    assert!(c["discovery_result"]["warnings"].to_string().contains("S256"));
    let id = id_of(&c);
    expect_problem(s.connect(&id, json!({})).await, 422, "pkce_unsupported").await;
    assert_eq!(s.connector(&id).await["status"], "created");
    assert_eq!(s.state_rows().await, 0);
}

#[sqlx::test]
async fn disconnect_revokes_at_the_authorization_server(db: PgPool) {
    let s = setup(db, AsConfig::default()).await;
    let c = s.create(json!({"url": s.upstream.url, "auth": {"mode": "oauth2_authorization_code"}})).await;
    let id = id_of(&c);
    let url = s.pending(&id, json!({})).await;
    authorize_in_browser(&url).await;
    let res = s.app.post_json(&format!("/api/v1/connectors/{id}/disconnect"), &s.t.key, json!({})).await;
    let c = expect_json(res, 200).await;
    assert_eq!(c["status"], "disconnected");
    assert_eq!(c["disconnect_reason"]["code"], "user_requested");
    assert_eq!(c["auth"]["has_token"], false);
    let hints: Vec<Option<String>> =
        s.auth_server.state.lock().unwrap().revoked.iter().map(|(_, h)| h.clone()).collect();
    assert_eq!(hints, [Some("refresh_token".into()), Some("access_token".into())], "refresh token first");
    let secrets: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM connector_secrets WHERE field IN ('access_token', 'refresh_token')",
    )
    .fetch_one(&s.app.state.db)
    .await
    .unwrap();
    assert_eq!(secrets, 0);

    // Reconnect works from disconnected.
    let url = s.pending(&id, json!({})).await;
    assert_eq!(authorize_in_browser(&url).await.status(), 200);
    assert_eq!(s.connector(&id).await["status"], "connected");

    // Deleting revokes too.
    let before = s.auth_server.state.lock().unwrap().revoked.len();
    let res = s
        .app
        .request(Method::DELETE, &format!("/api/v1/connectors/{id}"), Some(&s.t.key))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    assert_eq!(s.auth_server.state.lock().unwrap().revoked.len(), before + 2);
}

#[sqlx::test]
async fn a_new_connect_replaces_the_pending_authorization(db: PgPool) {
    let s = setup(db, AsConfig::default()).await;
    let c = s.create(json!({"url": s.upstream.url, "auth": {"mode": "oauth2_authorization_code"}})).await;
    let id = id_of(&c);
    let first = s.pending(&id, json!({})).await;
    let second = s.pending(&id, json!({})).await;
    assert_eq!(s.state_rows().await, 1);
    assert_eq!(authorize_in_browser(&first).await.status(), 400, "the first link is dead");
    assert_eq!(authorize_in_browser(&second).await.status(), 200);
}

async fn discover(s: &Setup, url: &str) -> Value {
    expect_json(s.app.post_json("/api/v1/discovery", &s.t.key, json!({"url": url})).await, 200).await
}

#[sqlx::test]
async fn discovery_follows_the_mandated_order_and_fallbacks(db: PgPool) {
    // Path issuer, metadata only at the OIDC path-append location: all three are tried in order.
    let s = setup(
        db.clone(),
        AsConfig { issuer_path: "/tenant1", metadata_at: MetadataAt::OidcAppend, ..AsConfig::default() },
    )
    .await;
    let d = discover(&s, &s.upstream.url).await;
    assert_eq!(d["issuer"], s.auth_server.issuer, "{d}");
    let tried: Vec<String> = s.auth_server.log().into_iter().filter(|l| l.contains(".well-known")).collect();
    assert_eq!(
        tried,
        [
            "GET /.well-known/oauth-authorization-server/tenant1",
            "GET /.well-known/openid-configuration/tenant1",
            "GET /tenant1/.well-known/openid-configuration",
        ]
    );

    // OIDC path-insert.
    let s = setup(
        db.clone(),
        AsConfig { issuer_path: "/t2", metadata_at: MetadataAt::OidcInsert, ..AsConfig::default() },
    )
    .await;
    assert_eq!(discover(&s, &s.upstream.url).await["issuer"], s.auth_server.issuer);

    // Root issuer, OIDC only.
    let s = setup(db.clone(), AsConfig { metadata_at: MetadataAt::OidcInsert, ..AsConfig::default() }).await;
    assert_eq!(discover(&s, &s.upstream.url).await["issuer"], s.auth_server.issuer);

    // PRM without a challenge parameter: path-insert, then root.
    for prm_at in [PrmAt::PathInsert, PrmAt::Root] {
        let auth_server = AuthServer::spawn(AsConfig::default()).await;
        let upstream =
            McpServer::spawn_with(Guard::OAuth { server: auth_server.clone(), scope: None }, prm_at).await;
        let d = discover(&s, &upstream.url).await;
        assert_eq!(d["issuer"], auth_server.issuer, "{d}");
        let expected = match prm_at {
            PrmAt::Root => format!("http://{}/.well-known/oauth-protected-resource", upstream.addr),
            _ => format!("http://{}/.well-known/oauth-protected-resource/mcp", upstream.addr),
        };
        assert_eq!(d["resource_metadata_url"], expected);
    }

    // An open server needs no auth, and says who it is.
    let open = McpServer::spawn(Guard::Open).await;
    let d = discover(&s, &open.url).await;
    assert_eq!(
        (d["requires_auth"].as_bool(), d["recommended_auth_mode"].as_str()),
        (Some(false), Some("none"))
    );
    assert_eq!(d["server_info"]["name"], "switchboard-test-upstream");

    // Unreachable: the result says so, and claims nothing about authorization.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let d = discover(&s, &format!("http://{closed}/mcp")).await;
    assert!(d["error"].as_str().unwrap().contains("could not reach"), "{d}");
    assert_eq!(d["requires_auth"], Value::Null, "nothing was asked: {d}");
}

/// A name of this machine that resolves only to non-public addresses (its host name is in
/// /etc/hosts, on loopback or a private network), other than `localhost` (refused by name).
async fn internal_host_name() -> String {
    let name = std::fs::read_to_string("/etc/hostname").expect("the machine has a host name");
    let name = name.trim().to_owned();
    let addrs: Vec<_> = tokio::net::lookup_host((name.as_str(), 80)).await.unwrap().collect();
    assert!(
        !addrs.is_empty() && addrs.iter().all(|a| !switchboard::platform::net::is_public(a.ip())),
        "{addrs:?}"
    );
    name
}

#[sqlx::test]
async fn discovery_refuses_internal_names_like_internal_addresses(db: PgPool) {
    let app = TestApp::spawn_public(db, |s| s.allow_private_networks = false).await;
    let t = app.tenant("a").await;
    let name = internal_host_name().await;
    for url in [
        format!("http://{name}:9/mcp"),
        "http://10.1.2.3/mcp".to_owned(),
        "http://127.0.0.1:9/mcp".to_owned(),
    ] {
        let res = app.post_json("/api/v1/discovery", &t.key, json!({"url": url})).await;
        let problem = expect_problem(res, 400, "destination_not_allowed").await;
        assert!(!problem.to_string().contains("requires_auth"), "{problem}");
    }
}

#[sqlx::test]
async fn created_without_auth_connects_as_discovered(db: PgPool) {
    let s = setup(db, AsConfig::default()).await;
    let open = McpServer::spawn(Guard::Open).await;
    let c = s.create(json!({"url": open.url})).await;
    let res = expect_json(s.connect(&id_of(&c), json!({})).await, 200).await;
    assert_eq!(res["status"], "connected");
    assert_eq!(res["auth"]["mode"], "none");

    let c = s.create(json!({"url": s.upstream.url})).await;
    assert_eq!(c["auth"], Value::Null);
    let url = s.pending(&id_of(&c), json!({"scopes": ["tools:read", "extra"]})).await;
    assert!(url.contains("scope=tools%3Aread+extra"), "{url}");
    assert_eq!(authorize_in_browser(&url).await.status(), 200);
    assert_eq!(s.connector(&id_of(&c)).await["auth"]["mode"], "oauth2_authorization_code");
}

#[sqlx::test]
async fn client_metadata_documents_replace_registration_where_supported(db: PgPool) {
    let public = "https://switchboard.example.com/";
    let app = TestApp::spawn_public(db, |s| s.public_url = url::Url::parse(public).unwrap()).await;
    let t = app.tenant("a").await;
    let auth_server =
        AuthServer::spawn(AsConfig { client_id_metadata_documents: true, ..AsConfig::default() }).await;
    let upstream = McpServer::spawn(Guard::OAuth { server: auth_server.clone(), scope: None }).await;
    let c = app.create_connector(&t.key, json!({"url": upstream.url, "discover": true})).await;
    assert_eq!(c["discovery_result"]["client_id_metadata_document_supported"], true);
    let res = app.post_json(&format!("/api/v1/connectors/{}/connect", id_of(&c)), &t.key, json!({})).await;
    let url = expect_json(res, 200).await["authorization_url"].as_str().unwrap().to_owned();
    let client_id: String =
        url::Url::parse(&url).unwrap().query_pairs().find(|(k, _)| k == "client_id").unwrap().1.into_owned();
    let document_url = format!("{public}api/v1/oauth/client-metadata.json");
    assert_eq!(client_id, document_url);
    assert!(auth_server.state.lock().unwrap().registrations.is_empty(), "no DCR");

    // The document is served, unauthenticated, and names itself as client_id.
    let doc = expect_json(
        app.request(Method::GET, "/api/v1/oauth/client-metadata.json", None).send().await.unwrap(),
        200,
    )
    .await;
    assert_eq!(doc["client_id"], document_url);
    assert_eq!(doc["redirect_uris"], json!([format!("{public}api/v1/oauth/callback")]));
    assert_eq!(doc["token_endpoint_auth_method"], "none");
}

#[sqlx::test]
async fn a_published_metadata_document_is_the_client_id_behind_an_http_public_url(db: PgPool) {
    let published = "https://cdn.example.com/switchboard/client-metadata.json";
    let app =
        TestApp::spawn_public(db, |s| s.client_metadata_url = Some(url::Url::parse(published).unwrap()))
            .await;
    let t = app.tenant("a").await;
    let auth_server =
        AuthServer::spawn(AsConfig { client_id_metadata_documents: true, ..AsConfig::default() }).await;
    let upstream = McpServer::spawn(Guard::OAuth { server: auth_server.clone(), scope: None }).await;
    let c = app.create_connector(&t.key, json!({"url": upstream.url, "discover": true})).await;
    let res = app.post_json(&format!("/api/v1/connectors/{}/connect", id_of(&c)), &t.key, json!({})).await;
    let url = expect_json(res, 200).await["authorization_url"].as_str().unwrap().to_owned();
    let query: std::collections::HashMap<_, _> =
        url::Url::parse(&url).unwrap().query_pairs().into_owned().collect();
    assert_eq!(query["client_id"], published);
    assert!(auth_server.state.lock().unwrap().registrations.is_empty(), "no DCR");
    let doc = expect_json(
        app.request(Method::GET, "/api/v1/oauth/client-metadata.json", None).send().await.unwrap(),
        200,
    )
    .await;
    assert_eq!(doc["client_id"], published, "the copy to publish names where it is published");
    assert_eq!(doc["redirect_uris"], json!([app.url("/api/v1/oauth/callback")]));
}
