//! Switchboard as the OAuth 2.1 authorization server of gateway endpoints (issue 14): the
//! 401 challenge and both metadata documents, registration (DCR and Client ID Metadata
//! Documents), the consent page (sign in with a gateway key, approve or deny), codes with
//! PKCE, tokens that rotate, revocation, the REST API's grants; then the TypeScript and Python
//! SDKs' OAuth clients running the whole flow, headless.

use base64::Engine as _;
use reqwest::{Method, Response, redirect};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use url::Url;

use super::gateway::issue_key;
use super::gateway_scopes::gated_gateway;
use crate::support::raw_mcp::RawMcp;
use crate::support::{TestApp, TestTenant, expect_json, expect_problem};

const REDIRECT: &str = "http://127.0.0.1:9/callback";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

fn challenge_of(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// A browser that does not follow redirects: tests read where it would go.
fn browser() -> reqwest::Client {
    reqwest::Client::builder().redirect(redirect::Policy::none()).build().unwrap()
}

fn names(list: &Value) -> Vec<&str> {
    let mut names: Vec<&str> =
        list["result"]["tools"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    names.sort();
    names
}

async fn register(app: &TestApp, body: Value) -> Response {
    app.client.post(app.url("/oauth/register")).json(&body).send().await.unwrap()
}

async fn client_id(app: &TestApp, name: &str) -> String {
    let res = register(app, json!({"client_name": name, "redirect_uris": [REDIRECT]})).await;
    expect_json(res, 201).await["client_id"].as_str().unwrap().to_owned()
}

fn resource(app: &TestApp, slug: &str) -> String {
    app.url(&format!("/api/v1/gateways/{slug}/mcp"))
}

/// An authorization request's URL; `change` edits its parameters.
fn authorize_url(
    app: &TestApp,
    client: &str,
    slug: &str,
    change: impl FnOnce(&mut Vec<(&str, String)>),
) -> String {
    let mut params = vec![
        ("response_type", "code".to_owned()),
        ("client_id", client.to_owned()),
        ("redirect_uri", REDIRECT.to_owned()),
        ("state", "st-42".to_owned()),
        ("code_challenge", challenge_of(VERIFIER)),
        ("code_challenge_method", "S256".to_owned()),
        ("scope", "mcp:read mcp:write".to_owned()),
        ("resource", resource(app, slug)),
    ];
    change(&mut params);
    let mut url = Url::parse(&app.url("/oauth/authorize")).unwrap();
    url.query_pairs_mut().extend_pairs(params.iter().map(|(k, v)| (*k, v.as_str())));
    url.into()
}

fn csrf(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").expect("the form has a CSRF token") + 19;
    html[at..at + html[at..].find('"').unwrap()].to_owned()
}

/// `fields` as an `application/x-www-form-urlencoded` body.
fn form(request: reqwest::RequestBuilder, fields: &[(&str, &str)]) -> reqwest::RequestBuilder {
    let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(fields).finish();
    request.header("content-type", "application/x-www-form-urlencoded").body(body)
}

async fn post_form(app: &TestApp, fields: &[(&str, &str)]) -> Response {
    form(browser().post(app.url("/oauth/authorize")), fields).send().await.unwrap()
}

/// The query of a redirect to the client.
fn redirected(res: &Response) -> std::collections::HashMap<String, String> {
    assert_eq!(res.status(), 303, "a redirect to the client");
    let location = Url::parse(res.headers()["location"].to_str().unwrap()).unwrap();
    assert!(location.as_str().starts_with(REDIRECT), "{location}");
    location.query_pairs().into_owned().collect()
}

/// The person's side: open the authorization URL, sign in with `key`, approve or deny.
async fn consent(
    app: &TestApp,
    url: &str,
    key: &str,
    approve: bool,
) -> std::collections::HashMap<String, String> {
    let page = browser().get(url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let token = csrf(&page.text().await.unwrap());
    let page = post_form(app, &[("csrf", &token), ("action", "sign_in"), ("key", key)]).await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("Approve"), "signed in: {html}");
    let action = if approve { "approve" } else { "deny" };
    redirected(&post_form(app, &[("csrf", &csrf(&html)), ("action", action)]).await)
}

async fn token(app: &TestApp, fields: &[(&str, &str)]) -> (u16, Value, Option<String>) {
    let res = form(app.client.post(app.url("/oauth/token")), fields).send().await.unwrap();
    let cache = res.headers().get("cache-control").map(|v| v.to_str().unwrap().to_owned());
    (res.status().as_u16(), res.json().await.unwrap(), cache)
}

async fn exchange(app: &TestApp, client: &str, code: &str, verifier: &str) -> (u16, Value, Option<String>) {
    let fields = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("client_id", client),
        ("redirect_uri", REDIRECT),
        ("code_verifier", verifier),
    ];
    token(app, &fields).await
}

async fn count(app: &TestApp, query: &'static str) -> i64 {
    sqlx::query_scalar(query).fetch_one(&app.state.db).await.unwrap()
}

struct Setup {
    app: TestApp,
    t: TestTenant,
    gid: String,
    /// A key holding mcp:read and mcp:admin.
    key: String,
    key_id: String,
    _keep: (crate::support::mcp_server::Catalog, crate::support::mcp_server::McpServer),
}

async fn setup(db: PgPool) -> Setup {
    let app = TestApp::spawn_public(db, |_| {}).await;
    let (t, gid, _ids, catalog, upstream) = gated_gateway(&app, "g").await;
    let key = issue_key(&app, &t.key, &gid, json!({"scopes": ["mcp:read", "mcp:admin"]})).await;
    let (key_id, key) = (key["id"].as_str().unwrap().to_owned(), key["api_key"].as_str().unwrap().to_owned());
    Setup { app, t, gid, key, key_id, _keep: (catalog, upstream) }
}

#[sqlx::test]
async fn the_gateway_challenges_and_both_metadata_documents_point_the_way(db: PgPool) {
    let s = setup(db).await;
    let app = &s.app;
    let mcp = resource(app, "g");
    let prm_url = app.url("/.well-known/oauth-protected-resource/api/v1/gateways/g/mcp");
    for method in [Method::POST, Method::GET] {
        let res = app.client.request(method, &mcp).send().await.unwrap();
        assert_eq!(res.status(), 401);
        assert_eq!(
            res.headers()["www-authenticate"],
            format!("Bearer resource_metadata=\"{prm_url}\"").as_str()
        );
    }
    // A bad key is told what it always was; a dead access token is sent to the metadata.
    let res = app.request(Method::POST, "/api/v1/gateways/g/mcp", Some("gk_nonsense")).send().await.unwrap();
    assert_eq!(res.headers()["www-authenticate"], "Bearer");
    let res = app.request(Method::POST, "/api/v1/gateways/g/mcp", Some("oat_nonsense")).send().await.unwrap();
    let expected = format!("Bearer resource_metadata=\"{prm_url}\", error=\"invalid_token\"");
    assert_eq!(
        (res.status().as_u16(), res.headers()["www-authenticate"].to_str().unwrap()),
        (401, expected.as_str())
    );

    let prm = expect_json(app.client.get(&prm_url).send().await.unwrap(), 200).await;
    let issuer = app.url("");
    assert_eq!(prm["resource"], mcp);
    assert_eq!(prm["authorization_servers"], json!([issuer]));
    assert_eq!(prm["scopes_supported"], json!(["mcp:read", "mcp:write", "mcp:admin"]));
    assert_eq!(prm["bearer_methods_supported"], json!(["header"]));
    let res =
        app.client.get(app.url("/.well-known/oauth-protected-resource/api/v1/other")).send().await.unwrap();
    assert_eq!(res.status(), 404);

    let asm = expect_json(
        app.client.get(app.url("/.well-known/oauth-authorization-server")).send().await.unwrap(),
        200,
    )
    .await;
    assert_eq!(asm["issuer"], issuer);
    for (field, path) in [
        ("authorization_endpoint", "/oauth/authorize"),
        ("token_endpoint", "/oauth/token"),
        ("registration_endpoint", "/oauth/register"),
        ("revocation_endpoint", "/oauth/revoke"),
    ] {
        assert_eq!(asm[field], app.url(path), "{field}");
    }
    assert_eq!(asm["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(asm["client_id_metadata_document_supported"], true);
    assert_eq!(asm["authorization_response_iss_parameter_supported"], true);
    assert_eq!(asm["response_types_supported"], json!(["code"]));
    assert_eq!(asm["grant_types_supported"], json!(["authorization_code", "refresh_token"]));
    assert_eq!(asm["token_endpoint_auth_methods_supported"], json!(["none"]));
    assert_eq!(asm["scopes_supported"], prm["scopes_supported"]);
    let oidc =
        expect_json(app.client.get(app.url("/.well-known/openid-configuration")).send().await.unwrap(), 200)
            .await;
    assert_eq!(oidc, asm);
}

#[sqlx::test]
async fn a_consented_code_becomes_scoped_tokens_that_rotate_and_replays_revoke_the_grant(db: PgPool) {
    let s = setup(db).await;
    let app = &s.app;
    let client = client_id(app, "Hand-driven client").await;
    let back = consent(app, &authorize_url(app, &client, "g", |_| {}), &s.key, true).await;
    assert_eq!(back["state"], "st-42");
    assert_eq!(back["iss"], app.url(""));
    let code = &back["code"];

    let (status, tokens, cache) = exchange(app, &client, code, VERIFIER).await;
    assert_eq!((status, cache.as_deref()), (200, Some("no-store")), "{tokens}");
    assert_eq!(tokens["scope"], "mcp:read", "asked read+write, the key holds read+admin");
    assert_eq!(tokens["expires_in"], 3600);
    assert!(tokens["token_type"].as_str().unwrap().eq_ignore_ascii_case("bearer"));
    let access = tokens["access_token"].as_str().unwrap();
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let mcp = resource(app, "g");
    assert_eq!(
        names(&RawMcp::new(&mcp, access).call(1, "tools/list", json!({})).await),
        ["get_echo", "peek"]
    );
    let hidden = RawMcp::new(&mcp, access)
        .call(2, "tools/call", json!({"name": "delete_sleep", "arguments": {}}))
        .await;
    assert_eq!(hidden["error"]["code"], -32602, "out of scope is unknown: {hidden}");
    // Only hashes are kept.
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM authz_tokens WHERE token_hash = $1")
        .bind(access.as_bytes())
        .fetch_one(&app.state.db)
        .await
        .unwrap();
    assert_eq!(stored, 0);

    // The code is single use: a second exchange fails and revokes what the first issued.
    let (status, again, _) = exchange(app, &client, code, VERIFIER).await;
    assert_eq!((status, again["error"].as_str()), (400, Some("invalid_grant")));
    let res =
        RawMcp::new(&mcp, access).post(json!({"jsonrpc": "2.0", "id": 3, "method": "tools/list"})).await;
    assert_eq!(res.status(), 401);
    assert!(res.headers()["www-authenticate"].to_str().unwrap().contains("invalid_token"));
    let (status, _, _) = token(app, &[("grant_type", "refresh_token"), ("refresh_token", refresh)]).await;
    assert_eq!(status, 400, "the grant's refresh token died with it");

    // A fresh grant: refresh rotates; the old refresh token presented again revokes the grant.
    let back = consent(app, &authorize_url(app, &client, "g", |_| {}), &s.key, true).await;
    let (_, first, _) = exchange(app, &client, &back["code"], VERIFIER).await;
    let old_refresh = first["refresh_token"].as_str().unwrap();
    let refresh_form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", old_refresh),
        ("client_id", &client),
        ("resource", &mcp),
    ];
    let (status, second, cache) = token(app, &refresh_form).await;
    assert_eq!((status, cache.as_deref()), (200, Some("no-store")), "{second}");
    assert_ne!(second["refresh_token"], first["refresh_token"]);
    let new_access = second["access_token"].as_str().unwrap();
    assert_eq!(
        names(&RawMcp::new(&mcp, new_access).call(4, "tools/list", json!({})).await),
        ["get_echo", "peek"]
    );
    let (status, replay, _) = token(app, &refresh_form).await;
    assert_eq!((status, replay["error"].as_str()), (400, Some("invalid_grant")));
    let res =
        RawMcp::new(&mcp, new_access).post(json!({"jsonrpc": "2.0", "id": 5, "method": "tools/list"})).await;
    assert_eq!(res.status(), 401, "reuse of a rotated refresh token revoked the grant");
    let rotated = second["refresh_token"].as_str().unwrap();
    let (status, _, _) = token(app, &[("grant_type", "refresh_token"), ("refresh_token", rotated)]).await;
    assert_eq!(status, 400);
}

/// The scopes of a token response, sorted.
fn scopes_of(tokens: &Value) -> Vec<&str> {
    let mut scopes: Vec<&str> = tokens["scope"].as_str().unwrap().split(' ').collect();
    scopes.sort();
    scopes
}

#[sqlx::test]
async fn a_refresh_may_narrow_the_scopes_of_its_access_token_but_never_widen_them(db: PgPool) {
    let s = setup(db).await;
    let app = &s.app;
    let client = client_id(app, "Narrowing client").await;
    let url = authorize_url(app, &client, "g", |p| p[6].1 = "mcp:read mcp:admin".into());
    let back = consent(app, &url, &s.key, true).await;
    let (_, first, _) = exchange(app, &client, &back["code"], VERIFIER).await;
    assert_eq!(scopes_of(&first), ["mcp:admin", "mcp:read"], "{first}");
    let mcp = resource(app, "g");
    let refresh = |presented: &str, scope: Option<&str>| {
        let mut fields =
            vec![("grant_type", "refresh_token".to_owned()), ("refresh_token", presented.to_owned())];
        fields.extend(scope.map(|s| ("scope", s.to_owned())));
        async move { token(app, &fields.iter().map(|(k, v)| (*k, v.as_str())).collect::<Vec<_>>()).await }
    };

    let (status, narrow, _) = refresh(first["refresh_token"].as_str().unwrap(), Some("mcp:read")).await;
    assert_eq!((status, scopes_of(&narrow)), (200, vec!["mcp:read"]), "{narrow}");
    let tools =
        RawMcp::new(&mcp, narrow["access_token"].as_str().unwrap()).call(1, "tools/list", json!({})).await;
    assert_eq!(names(&tools), ["get_echo", "peek"], "only mcp:read's tools");

    // Wider than the grant: refused, nothing issued, and the refresh token still works.
    let rotated = narrow["refresh_token"].as_str().unwrap();
    let tokens_before = count(app, "SELECT count(*) FROM authz_tokens").await;
    for wider in ["mcp:read mcp:write", "mcp:everything", " "] {
        let (status, refused, _) = refresh(rotated, Some(wider)).await;
        assert_eq!((status, refused["error"].as_str()), (400, Some("invalid_scope")), "{wider:?}: {refused}");
    }
    assert_eq!(count(app, "SELECT count(*) FROM authz_tokens").await, tokens_before, "nothing issued");
    // The rotated refresh token kept the grant's scopes (RFC 6749 §6): no scope, all of them.
    let (status, full, _) = refresh(rotated, None).await;
    assert_eq!((status, scopes_of(&full)), (200, vec!["mcp:admin", "mcp:read"]), "{full}");
    let tools =
        RawMcp::new(&mcp, full["access_token"].as_str().unwrap()).call(2, "tools/list", json!({})).await;
    assert_eq!(names(&tools), ["delete_sleep", "get_echo", "peek", "wipe"]);
}

/// Runs `sql`, which moves one row's time `$2` (an interval) into the past; `$1` names the row.
async fn backdate(app: &TestApp, sql: &'static str, ago: &str, key: &[u8]) {
    let done = sqlx::query(sql).bind(key).bind(ago).execute(&app.state.db).await.unwrap();
    assert_eq!(done.rows_affected(), 1, "{sql}");
}

#[sqlx::test]
async fn the_worker_purges_finished_codes_tokens_and_grants_after_a_day(db: PgPool) {
    let s = setup(db).await;
    let app = &s.app;
    let client = client_id(app, "Purged client").await;
    let url = authorize_url(app, &client, "g", |_| {});
    let hash = |token: &str| Sha256::digest(token.as_bytes()).to_vec();
    let token_ago = "UPDATE authz_tokens SET expires_at = now() - $2::interval WHERE token_hash = $1";
    // A live grant, refreshed once: its first access token expired two days ago (gone), the
    // spent refresh token an hour ago (kept for replay detection), the new pair is live.
    let (_, first, _) =
        exchange(app, &client, &consent(app, &url, &s.key, true).await["code"], VERIFIER).await;
    let refresh =
        [("grant_type", "refresh_token"), ("refresh_token", first["refresh_token"].as_str().unwrap())];
    let (_, live, _) = token(app, &refresh).await;
    backdate(app, token_ago, "2 days", &hash(first["access_token"].as_str().unwrap())).await;
    backdate(app, token_ago, "1 hour", &hash(first["refresh_token"].as_str().unwrap())).await;
    // A grant revoked two days ago, and a code never exchanged that expired two days ago:
    // both gone; a code expired an hour ago stays.
    let (_, revoked, _) =
        exchange(app, &client, &consent(app, &url, &s.key, true).await["code"], VERIFIER).await;
    let grant_ago = "UPDATE authz_grants SET revoked_at = now() - $2::interval \
                     WHERE id = (SELECT grant_id FROM authz_tokens WHERE token_hash = $1)";
    backdate(app, grant_ago, "2 days", &hash(revoked["access_token"].as_str().unwrap())).await;
    let code_ago = "UPDATE authz_grants SET code_expires_at = now() - $2::interval WHERE code_hash = $1";
    for ago in ["2 days", "1 hour"] {
        backdate(app, code_ago, ago, &hash(&consent(app, &url, &s.key, true).await["code"])).await;
    }
    assert_eq!(count(app, "SELECT count(*) FROM authz_grants").await, 4);
    assert_eq!(count(app, "SELECT count(*) FROM authz_tokens").await, 6);

    let report = switchboard::worker::tick(&crate::support::worker(&app.state)).await.unwrap();
    // One access token, the revoked grant (its two tokens go with it), the expired code's grant.
    assert_eq!(report.purged_authz_rows, 3, "{report:?}");
    assert_eq!(count(app, "SELECT count(*) FROM authz_grants").await, 2);
    assert_eq!(
        count(app, "SELECT count(*) FROM authz_tokens").await,
        3,
        "the live pair and the spent refresh"
    );
    let mcp = resource(app, "g");
    let tools =
        RawMcp::new(&mcp, live["access_token"].as_str().unwrap()).call(1, "tools/list", json!({})).await;
    assert_eq!(names(&tools), ["get_echo", "peek"], "the live grant still works");
    let (status, replay, _) = token(app, &refresh).await;
    assert_eq!((status, replay["error"].as_str()), (400, Some("invalid_grant")), "a replay is still caught");
    let res = RawMcp::new(&mcp, live["access_token"].as_str().unwrap())
        .post(json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}))
        .await;
    assert_eq!(res.status(), 401, "the replay revoked the grant");
}

#[sqlx::test]
async fn bad_requests_get_the_rfc_errors_and_nothing_is_issued(db: PgPool) {
    let s = setup(db).await;
    let app = &s.app;
    let other = gated_gateway(app, "other").await;
    let client = client_id(app, "Careless client").await;

    // Until the client and its redirect URI are known, nothing is redirected: a page says why.
    for url in [
        authorize_url(app, "oc_unknown", "g", |_| {}),
        authorize_url(app, &client, "g", |p| p[2].1 = "http://127.0.0.1:9/elsewhere".into()),
        authorize_url(app, &client, "g", |p| p.retain(|(k, _)| *k != "client_id")),
    ] {
        let page = browser().get(&url).send().await.unwrap();
        assert_eq!(page.status(), 400, "{url}");
        assert!(page.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
        assert!(page.headers().get("location").is_none());
    }
    // After that, the client is told on its redirect URI, with state and iss.
    for (change, error) in [
        (
            Box::new(|p: &mut Vec<(&str, String)>| p[0].1 = "token".into())
                as Box<dyn FnOnce(&mut Vec<(&str, String)>)>,
            "unsupported_response_type",
        ),
        (Box::new(|p: &mut Vec<(&str, String)>| p[5].1 = "plain".into()), "invalid_request"),
        (
            Box::new(|p: &mut Vec<(&str, String)>| p.retain(|(k, _)| *k != "code_challenge")),
            "invalid_request",
        ),
        (
            Box::new(|p: &mut Vec<(&str, String)>| p[7].1 = "https://elsewhere.example/mcp".into()),
            "invalid_target",
        ),
        (Box::new(|p: &mut Vec<(&str, String)>| p[6].1 = "mcp:read everything".into()), "invalid_scope"),
    ] {
        let res = browser().get(authorize_url(app, &client, "g", change)).send().await.unwrap();
        let back = redirected(&res);
        assert_eq!(back["error"], error);
        assert_eq!((back["state"].as_str(), back["iss"].as_str()), ("st-42", app.url("").as_str()));
    }

    // `resource` of another gateway: this gateway's key does not sign in there.
    let page = browser().get(authorize_url(app, &client, "other", |_| {})).send().await.unwrap();
    let token_field = csrf(&page.text().await.unwrap());
    let page = post_form(app, &[("csrf", &token_field), ("action", "sign_in"), ("key", &s.key)]).await;
    let html = page.text().await.unwrap();
    assert!(html.contains("not an active key of this gateway") && !html.contains("Approve"), "{html}");
    // Denied consent: access_denied, nothing issued.
    let back = redirected(&post_form(app, &[("csrf", &csrf(&html)), ("action", "deny")]).await);
    assert_eq!((back["error"].as_str(), back["state"].as_str()), ("access_denied", "st-42"));
    let back = consent(app, &authorize_url(app, &client, "g", |_| {}), &s.key, false).await;
    assert_eq!(back["error"], "access_denied");
    assert!(!back.contains_key("code"));
    assert_eq!(count(app, "SELECT count(*) FROM authz_grants").await, 0);

    // A wrong PKCE verifier, another client, an unknown code: invalid_grant, and no token.
    let back = consent(app, &authorize_url(app, &client, "g", |_| {}), &s.key, true).await;
    let (status, wrong, cache) = exchange(app, &client, &back["code"], &format!("{}x", &VERIFIER[1..])).await;
    assert_eq!(
        (status, wrong["error"].as_str(), cache.as_deref()),
        (400, Some("invalid_grant"), Some("no-store"))
    );
    let back = consent(app, &authorize_url(app, &client, "g", |_| {}), &s.key, true).await;
    let (status, wrong, _) = exchange(app, "oc_someone_else", &back["code"], VERIFIER).await;
    assert_eq!((status, wrong["error"].as_str()), (400, Some("invalid_grant")));
    let (status, wrong, _) = exchange(app, &client, "oac_never_issued", VERIFIER).await;
    assert_eq!((status, wrong["error"].as_str()), (400, Some("invalid_grant")));
    let (status, wrong, _) = token(app, &[("grant_type", "password"), ("username", "x")]).await;
    assert_eq!((status, wrong["error"].as_str()), (400, Some("unsupported_grant_type")));
    let (status, wrong, _) = token(app, &[("grant_type", "authorization_code")]).await;
    assert_eq!((status, wrong["error"].as_str()), (400, Some("invalid_request")));
    assert_eq!(count(app, "SELECT count(*) FROM authz_tokens").await, 0, "nothing was issued");

    // A token of this gateway opens no other, and an expired one opens nothing.
    let back = consent(app, &authorize_url(app, &client, "g", |_| {}), &s.key, true).await;
    let (_, tokens, _) = exchange(app, &client, &back["code"], VERIFIER).await;
    let access = tokens["access_token"].as_str().unwrap();
    let res = RawMcp::new(&resource(app, "other"), access)
        .post(json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}))
        .await;
    assert_eq!(res.status(), 401);
    sqlx::query("UPDATE authz_tokens SET expires_at = now() - interval '1 second' WHERE kind = 'access'")
        .execute(&app.state.db)
        .await
        .unwrap();
    let res = RawMcp::new(&resource(app, "g"), access)
        .post(json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}))
        .await;
    assert_eq!(res.status(), 401);
    assert!(res.headers()["www-authenticate"].to_str().unwrap().contains("resource_metadata="));
    drop(other);

    // Registration: https or loopback redirect URIs only, RFC 7591 error codes.
    for (body, error) in [
        (json!({"redirect_uris": ["http://example.com/cb"]}), "invalid_redirect_uri"),
        (json!({"redirect_uris": ["https://x.example/cb#f"]}), "invalid_redirect_uri"),
        (json!({"client_name": "no redirect"}), "invalid_client_metadata"),
        (
            json!({"redirect_uris": [REDIRECT], "grant_types": ["client_credentials"]}),
            "invalid_client_metadata",
        ),
        (json!({"redirect_uris": "not a list"}), "invalid_client_metadata"),
    ] {
        let res = register(app, body.clone()).await;
        assert_eq!(res.status(), 400, "{body}");
        assert_eq!(res.json::<Value>().await.unwrap()["error"], error, "{body}");
    }
}

#[sqlx::test]
async fn the_consent_page_escapes_what_clients_say_and_its_forms_need_their_token(db: PgPool) {
    let s = setup(db).await;
    let app = &s.app;
    let hostile = "<script>alert('owned')</script>";
    let client = client_id(app, hostile).await;
    let page = browser().get(authorize_url(app, &client, "g", |_| {})).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let h = page.headers();
    assert!(h["content-security-policy"].to_str().unwrap().contains("frame-ancestors 'none'"));
    assert_eq!(
        (h["x-frame-options"].to_str().unwrap(), h["cache-control"].to_str().unwrap()),
        ("DENY", "no-store")
    );
    let html = page.text().await.unwrap();
    assert!(!html.contains(hostile) && html.contains("&lt;script&gt;alert(&#39;owned&#39;)&lt;/script&gt;"));
    assert!(html.contains("127.0.0.1") && html.contains("mcp:read") && html.contains("mcp:write"), "{html}");

    // No token, a made-up token, a spent token: refused, nothing signed in.
    let first = csrf(&html);
    for fields in [
        vec![("action", "sign_in"), ("key", s.key.as_str())],
        vec![("csrf", "ocs_forged"), ("action", "sign_in"), ("key", s.key.as_str())],
    ] {
        let res = post_form(app, &fields).await;
        assert_eq!(res.status(), 400);
    }
    let signed_in = post_form(app, &[("csrf", &first), ("action", "sign_in"), ("key", &s.key)]).await;
    let html = signed_in.text().await.unwrap();
    assert!(html.contains("Team tools"), "the consent page names the gateway: {html}");
    let res = post_form(app, &[("csrf", &first), ("action", "approve")]).await;
    assert_eq!(res.status(), 400, "the sign-in form's token was spent");
    let second = csrf(&html);
    assert!(
        redirected(&post_form(app, &[("csrf", &second), ("action", "approve")]).await).contains_key("code")
    );
    let res = post_form(app, &[("csrf", &second), ("action", "approve")]).await;
    assert_eq!(res.status(), 400, "and so was the consent form's");
}

#[sqlx::test]
async fn grants_are_listed_and_revoked_per_gateway_and_die_with_their_key(db: PgPool) {
    let s = setup(db).await;
    let app = &s.app;
    let client = client_id(app, "Listed client").await;
    let mut access = Vec::new();
    for _ in 0..3 {
        let back = consent(app, &authorize_url(app, &client, "g", |_| {}), &s.key, true).await;
        let (_, tokens, _) = exchange(app, &client, &back["code"], VERIFIER).await;
        access.push(tokens);
    }
    let grants = app.get_json(&format!("/api/v1/gateways/{}/oauth/grants", s.gid), &s.t.key).await;
    let items = grants["items"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    assert_eq!(items[0]["client_name"], "Listed client");
    assert_eq!(items[0]["scopes"], json!(["mcp:read"]));
    assert_eq!(items[0]["gateway_key_id"], s.key_id.as_str());
    assert!(!grants.to_string().contains("oat_") && !grants.to_string().contains("ort_"));

    // Another tenant sees none of it.
    let stranger = app.tenant("stranger").await;
    let path = format!("/api/v1/gateways/{}/oauth/grants", s.gid);
    let res = app.request(Method::GET, &path, Some(&stranger.key)).send().await.unwrap();
    expect_problem(res, 404, "not_found").await;
    let grant = items[0]["id"].as_str().unwrap();
    let res =
        app.request(Method::DELETE, &format!("{path}/{grant}"), Some(&stranger.key)).send().await.unwrap();
    expect_problem(res, 404, "not_found").await;

    // Revoked through the REST API: its tokens stop.
    let mcp = resource(app, "g");
    let res = app.request(Method::DELETE, &format!("{path}/{grant}"), Some(&s.t.key)).send().await.unwrap();
    assert_eq!(res.status(), 204);
    let newest = access[2]["access_token"].as_str().unwrap();
    let res =
        RawMcp::new(&mcp, newest).post(json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"})).await;
    assert_eq!(res.status(), 401);
    let res = app.request(Method::DELETE, &format!("{path}/{grant}"), Some(&s.t.key)).send().await.unwrap();
    expect_problem(res, 404, "not_found").await;

    // RFC 7009: the client revokes its own refresh token; unknown tokens are fine too.
    let middle = &access[1];
    let revoke = |token: String| form(app.client.post(app.url("/oauth/revoke")), &[("token", &token)]).send();
    assert_eq!(revoke(middle["refresh_token"].as_str().unwrap().to_owned()).await.unwrap().status(), 200);
    assert_eq!(revoke("ort_unknown".into()).await.unwrap().status(), 200);
    let res = RawMcp::new(&mcp, middle["access_token"].as_str().unwrap())
        .post(json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}))
        .await;
    assert_eq!(res.status(), 401);

    // Revoking the key that signed in ends the last grant.
    let oldest = access[0]["access_token"].as_str().unwrap();
    assert_eq!(
        names(&RawMcp::new(&mcp, oldest).call(3, "tools/list", json!({})).await),
        ["get_echo", "peek"]
    );
    let res = app
        .request(Method::DELETE, &format!("/api/v1/gateways/{}/keys/{}", s.gid, s.key_id), Some(&s.t.key))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let res =
        RawMcp::new(&mcp, oldest).post(json!({"jsonrpc": "2.0", "id": 4, "method": "tools/list"})).await;
    assert_eq!(res.status(), 401);
    let (status, _, _) = token(
        app,
        &[("grant_type", "refresh_token"), ("refresh_token", access[0]["refresh_token"].as_str().unwrap())],
    )
    .await;
    assert_eq!(status, 400);
    let grants = app.get_json(&path, &s.t.key).await;
    assert_eq!(grants["items"], json!([]));
}

/// Serves one JSON document at `/client.json` on 127.0.0.1 (private networks are allowed in
/// tests, so http will do for the Client ID Metadata Document).
async fn serve_document(document: impl Fn(&str) -> Value + Send + Sync + 'static) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/client.json", listener.local_addr().unwrap());
    let (own, document) = (url.clone(), std::sync::Arc::new(document));
    let router = axum::Router::new().route(
        "/client.json",
        axum::routing::get(move || {
            let body = document(&own);
            async move { axum::Json(body) }
        }),
    );
    crate::support::serve_local(listener, router);
    url
}

#[sqlx::test]
async fn clients_may_name_themselves_by_a_metadata_document(db: PgPool) {
    let s = setup(db).await;
    let app = &s.app;
    let good = serve_document(
        |url| json!({"client_id": url, "client_name": "CIMD client", "redirect_uris": [REDIRECT]}),
    )
    .await;
    let html =
        browser().get(authorize_url(app, &good, "g", |_| {})).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("CIMD client"), "{html}");
    let back = consent(app, &authorize_url(app, &good, "g", |_| {}), &s.key, true).await;
    let (status, tokens, _) = exchange(app, &good, &back["code"], VERIFIER).await;
    assert_eq!(status, 200, "{tokens}");

    // A document that names another client_id, or lacks the redirect URI, is not trusted.
    let liar = serve_document(
        |_| json!({"client_id": "https://other.example/client.json", "redirect_uris": [REDIRECT]}),
    )
    .await;
    let unlisted =
        serve_document(|url| json!({"client_id": url, "redirect_uris": ["http://127.0.0.1:9/other"]})).await;
    for client in [liar, unlisted] {
        let page = browser().get(authorize_url(app, &client, "g", |_| {})).send().await.unwrap();
        assert_eq!(page.status(), 400, "{client}");
        assert!(page.headers().get("location").is_none());
    }
}

#[sqlx::test]
async fn registrations_are_rate_limited_per_source(db: PgPool) {
    let app = TestApp::spawn_public(db, |_| {}).await;
    for _ in 0..20 {
        let res = register(&app, json!({"redirect_uris": [REDIRECT]})).await;
        assert_eq!(res.status(), 201);
    }
    let res = register(&app, json!({"redirect_uris": [REDIRECT]})).await;
    assert_eq!(res.status(), 429);
}

fn root() -> &'static std::path::Path {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[sqlx::test]
async fn the_typescript_and_python_sdks_run_the_whole_oauth_flow_headless(db: PgPool) {
    let Some(_packages) = crate::support::node::interop_packages() else { return };
    let Some(python) = crate::support::node::required(
        root().join("interop/.venv/bin/python"),
        "create interop/.venv (see .ci/run)",
    ) else {
        return;
    };
    let s = setup(db).await;
    let url = resource(&s.app, "g");
    let ts = vec![root().join("interop/gateway_oauth.mjs").display().to_string(), url.clone(), s.key.clone()];
    let py = vec![root().join("interop/gateway_oauth.py").display().to_string(), url.clone(), s.key.clone()];
    for (name, program, args) in [("ts-v1", "node".into(), ts), ("python", python, py)] {
        let report = super::gateway_interop::run(program, args).await;
        // The SDKs ask for every scope the metadata lists; the key holds read and admin.
        assert_eq!(report["before"], json!(["delete_sleep", "get_echo", "peek", "wipe"]), "{name}: {report}");
        assert_eq!(report["after"], report["before"], "{name}");
        assert_eq!(report["rotated"], true, "{name}: the refresh gave new tokens");
        assert!(report["client_id"].as_str().unwrap().starts_with("oc_"), "{name}: registered (DCR)");
        assert_eq!(report["iss"], s.app.url(""), "{name}");
        let asked = &report["authorization"];
        assert_eq!(
            (asked["code_challenge_method"].as_str(), asked["resource"].as_str()),
            (Some("S256"), Some(url.as_str())),
            "{name}"
        );
        let mut scope: Vec<&str> = report["scope"].as_str().unwrap().split(' ').collect();
        scope.sort();
        assert_eq!(scope, ["mcp:admin", "mcp:read"], "{name}");
    }
    let grants = s.app.get_json(&format!("/api/v1/gateways/{}/oauth/grants", s.gid), &s.t.key).await;
    let mut clients: Vec<&str> =
        grants["items"].as_array().unwrap().iter().map(|g| g["client_name"].as_str().unwrap()).collect();
    clients.sort();
    assert_eq!(clients, ["Python SDK interop", "TypeScript SDK interop"]);
}
