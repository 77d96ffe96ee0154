//! REST connectors with an OAuth 2 auth type (issue 15, decision 0066): the real test
//! authorization server issues the tokens, a real REST API checks them. Client credentials:
//! one token serves several calls; a token within 30 s of its expiry is replaced; a token the
//! API refuses is replaced once; the client secret is sealed and never echoed. Authorization
//! code: connect returns an authorization URL, the person's browser follows it, the callback
//! connects, calls send the grant's token, an expired or refused one is refreshed; two such
//! auth types in one descriptor are refused on save.

use std::sync::Arc;

use reqwest::Method;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::support::auth_server::{AsConfig, AuthServer};
use crate::support::rest_api::TicketApi;
use crate::support::{TestApp, authorize_in_browser, expect_json, expect_problem};

const CLIENT_ID: &str = "ticket-robot";
const CLIENT_SECRET: &str = "cs_9f8e7d6c5b4a";

/// A descriptor for `api` whose one operation authenticates with client credentials at `auth`.
fn descriptor(api: &TicketApi, auth: &AuthServer) -> Value {
    json!({
        "metadata": {"name": "Tickets (OAuth)"},
        "authentication": [{
            "type": "oauth2",
            "grant_type": "client_credentials",
            "token_url": format!("{}/token", auth.issuer),
            "scopes": ["tickets.read"],
            "test_endpoint": {"url": format!("{}/api/v1/me", api.base), "expected_status": 200},
        }],
        "operations": [{
            "operation_id": "get_ticket",
            "endpoint": format!("{}/api/v1/tickets/{{ticket_id}}", api.base),
            "method": "GET",
            "auth_type_ref": "oauth2",
            "parameters": [{"name": "ticket_id", "location": "path", "field_type": "string", "required": true}],
        }],
        "mcp_config": {
            "enabled": true,
            "server_name": "tickets",
            "server_description": "Ticket tools",
            "route_mappings": [{"operation_id": "get_ticket", "mcp_tool_name": "get_ticket", "mcp_tool_description": "Get a ticket by id"}],
        },
    })
}

/// The test authorization server (tokens living `ttl` seconds) with the client registered,
/// and the ticket API taking the tokens it issued.
async fn servers(ttl: u64) -> (AuthServer, TicketApi) {
    let auth = AuthServer::spawn(AsConfig { access_token_ttl: ttl, ..AsConfig::default() }).await;
    auth.preregister(CLIENT_ID, Some(CLIENT_SECRET), "client_secret_basic", "http://127.0.0.1/unused");
    let issuer = auth.clone();
    let api = TicketApi::spawn_with_bearer(Arc::new(move |token: &str| issuer.issued(token))).await;
    (auth, api)
}

/// A connected connector for `descriptor` with the client's credentials; its id.
async fn connected(app: &TestApp, key: &str, descriptor: Value) -> String {
    let credentials = json!({"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET});
    let body = json!({"kind": "rest", "descriptor": descriptor, "credentials": credentials});
    let created = expect_json(app.post_json("/api/v1/connectors", key, body).await, 201).await;
    assert!(!created.to_string().contains(CLIENT_SECRET), "never echoed: {created}");
    let id = created["id"].as_str().unwrap().to_owned();
    let res = app.post_json(&format!("/api/v1/connectors/{id}/connect"), key, json!({})).await;
    assert_eq!(expect_json(res, 200).await["status"], "connected");
    id
}

async fn get_ticket(app: &TestApp, key: &str, id: &str, ticket: &str) -> Value {
    let path = format!("/api/v1/connectors/{id}/tools/get_ticket/call");
    let body = json!({"arguments": {"ticket_id": ticket}});
    expect_json(app.post_json(&path, key, body).await, 200).await
}

fn token_requests(auth: &AuthServer) -> usize {
    auth.state.lock().unwrap().token_requests_of("client_credentials").len()
}

#[sqlx::test]
async fn one_token_serves_several_calls_and_a_refused_one_is_replaced_once(db: PgPool) {
    let (auth, api) = servers(3600).await;
    let app = TestApp::spawn(db).await;
    let tenant = app.tenant("acme").await;
    let id = connected(&app, &tenant.key, descriptor(&api, &auth)).await;
    let after_connect = token_requests(&auth);
    assert_eq!(after_connect, 1, "connect proved the client with a token");

    for ticket in ["T-1", "T-2", "T-3"] {
        let result = get_ticket(&app, &tenant.key, &id, ticket).await;
        assert_eq!(result["structuredContent"]["id"], ticket, "{result}");
    }
    assert_eq!(token_requests(&auth), after_connect + 1, "one token for three calls");
    let state = auth.state.lock().unwrap().token_requests.last().cloned().unwrap();
    assert_eq!(state.0.get("scope").map(String::as_str), Some("tickets.read"));
    assert!(!state.0.contains_key("resource"), "a REST API has no resource identifier");
    assert!(state.1.unwrap().starts_with("Basic "), "client_secret_basic");
    let bearers: Vec<Option<String>> = api.calls().into_iter().map(|c| c.authorization).collect();
    assert!(bearers.windows(2).all(|w| w[0] == w[1]), "the same token each time: {bearers:?}");

    // The server forgets its tokens: the API answers 401, a new token is fetched, the call
    // is made again with it.
    auth.revoke_access_tokens();
    let result = get_ticket(&app, &tenant.key, &id, "T-4").await;
    assert_eq!(result["structuredContent"]["id"], "T-4", "{result}");
    assert_eq!(token_requests(&auth), after_connect + 2);
    let calls = api.calls();
    let last_two: Vec<&str> = calls[calls.len() - 2..].iter().map(|c| c.path.as_str()).collect();
    assert_eq!(last_two, ["/api/v1/tickets/T-4", "/api/v1/tickets/T-4"], "refused, then retried");

    // A rotated secret: the cached token goes with the old credentials.
    auth.preregister(CLIENT_ID, Some("cs_rotated"), "client_secret_basic", "http://127.0.0.1/unused");
    let res = app
        .request(Method::PATCH, &format!("/api/v1/connectors/{id}"), Some(&tenant.key))
        .json(&json!({"credentials": {"client_secret": "cs_rotated"}}))
        .send()
        .await
        .unwrap();
    expect_json(res, 200).await;
    let result = get_ticket(&app, &tenant.key, &id, "T-5").await;
    assert_eq!(result["structuredContent"]["id"], "T-5", "{result}");
    assert_eq!(token_requests(&auth), after_connect + 3, "a new token with the new secret");

    let shown = app.get_json(&format!("/api/v1/connectors/{id}"), &tenant.key).await;
    assert!(!shown.to_string().contains(CLIENT_SECRET), "never echoed: {shown}");
    assert_eq!(shown["credential_fields"], json!(["client_id", "client_secret"]), "{shown}");
}

#[sqlx::test]
async fn a_token_near_its_expiry_is_replaced(db: PgPool) {
    // 20 s is within the 30 s margin: every call needs a new token.
    let (auth, api) = servers(20).await;
    let app = TestApp::spawn(db).await;
    let tenant = app.tenant("acme").await;
    let id = connected(&app, &tenant.key, descriptor(&api, &auth)).await;
    let before = token_requests(&auth);
    for ticket in ["T-1", "T-2"] {
        let result = get_ticket(&app, &tenant.key, &id, ticket).await;
        assert_eq!(result["isError"], false, "{result}");
    }
    assert_eq!(token_requests(&auth), before + 2);
    let bearers: Vec<Option<String>> = api.calls().into_iter().map(|c| c.authorization).collect();
    assert_ne!(bearers[0], bearers[1], "a new token each time");
}

#[sqlx::test]
async fn a_wrong_client_secret_is_rejected_on_connect(db: PgPool) {
    let (auth, api) = servers(3600).await;
    let app = TestApp::spawn(db).await;
    let tenant = app.tenant("acme").await;
    let credentials = json!({"client_id": CLIENT_ID, "client_secret": "wrong"});
    let body = json!({"kind": "rest", "descriptor": descriptor(&api, &auth), "credentials": credentials});
    let created = expect_json(app.post_json("/api/v1/connectors", &tenant.key, body).await, 201).await;
    let id = created["id"].as_str().unwrap();
    let res = app.post_json(&format!("/api/v1/connectors/{id}/connect"), &tenant.key, json!({})).await;
    let problem = expect_problem(res, 422, "credentials_rejected").await;
    assert!(problem["detail"].as_str().unwrap().contains("invalid_client"), "{problem}");
    assert!(api.seen().is_empty(), "the API was never called without a token");
}

/// `descriptor` with its auth type switched to the authorization code grant at `auth`.
fn authorization_code(api: &TicketApi, auth: &AuthServer) -> Value {
    let mut code = descriptor(api, auth);
    code["authentication"][0]["grant_type"] = json!("authorization_code");
    code["authentication"][0]["authorization_url"] = json!(format!("{}/authorize", auth.issuer));
    code
}

/// A REST connector with an authorization code auth type, authorized in the browser: its id.
async fn authorized(app: &TestApp, key: &str, api: &TicketApi, auth: &AuthServer) -> String {
    auth.preregister(
        CLIENT_ID,
        Some(CLIENT_SECRET),
        "client_secret_basic",
        &app.url("/api/v1/oauth/callback"),
    );
    let credentials = json!({"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET});
    let body =
        json!({"kind": "rest", "descriptor": authorization_code(api, auth), "credentials": credentials});
    let created = expect_json(app.post_json("/api/v1/connectors", key, body).await, 201).await;
    let id = created["id"].as_str().unwrap().to_owned();
    let res = app.post_json(&format!("/api/v1/connectors/{id}/connect"), key, json!({})).await;
    let pending = expect_json(res, 200).await;
    assert_eq!(pending["status"], "pending_authorization", "{pending}");
    let url = url::Url::parse(pending["authorization_url"].as_str().unwrap()).unwrap();
    assert_eq!(url.as_str().split('?').next(), Some(format!("{}/authorize", auth.issuer).as_str()));
    let q: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    assert_eq!((q["client_id"].as_str(), q["scope"].as_str()), (CLIENT_ID, "tickets.read"));
    assert_eq!(q["code_challenge_method"], "S256");
    assert!(!q.contains_key("resource"), "a REST API has no resource identifier");
    assert!(api.seen().is_empty(), "nothing is tried before the person consents");

    let page = authorize_in_browser(url.as_str()).await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("Connected"), "{html}");
    id
}

fn refreshes(auth: &AuthServer) -> usize {
    auth.state.lock().unwrap().token_requests_of("refresh_token").len()
}

/// The bearer token of the API's last call.
fn last_bearer(api: &TicketApi) -> String {
    let authorization = api.seen().last().and_then(|c| c.authorization.clone()).unwrap();
    authorization.strip_prefix("Bearer ").unwrap().to_owned()
}

#[sqlx::test]
async fn an_authorization_code_grant_connects_and_its_refused_token_is_refreshed(db: PgPool) {
    let (auth, api) = servers(3600).await;
    let app = TestApp::spawn_public(db, |_| ()).await;
    let tenant = app.tenant("acme").await;
    let id = authorized(&app, &tenant.key, &api, &auth).await;

    let shown = app.get_json(&format!("/api/v1/connectors/{id}"), &tenant.key).await;
    assert_eq!(shown["status"], "connected", "{shown}");
    assert!(!shown.to_string().contains(CLIENT_SECRET), "never echoed: {shown}");
    {
        let state = auth.state.lock().unwrap();
        let exchange = state.token_requests_of("authorization_code");
        assert_eq!(exchange.len(), 1);
        assert!(exchange[0].contains_key("code_verifier") && !exchange[0].contains_key("resource"));
        assert!(state.token_requests[0].1.as_deref().is_some_and(|h| h.starts_with("Basic ")));
    }
    let tested = api.seen();
    assert_eq!(tested.len(), 1, "the callback tried the test endpoint: {tested:?}");
    assert_eq!(tested[0].path, "/api/v1/me");
    let granted = last_bearer(&api);
    assert!(auth.issued(&granted));

    let result = get_ticket(&app, &tenant.key, &id, "T-1").await;
    assert_eq!(result["structuredContent"]["id"], "T-1", "{result}");
    assert_eq!(last_bearer(&api), granted, "the grant's access token");
    assert_eq!(refreshes(&auth), 0);

    // The server forgets its access tokens: the API answers 401, the grant is refreshed with
    // its refresh token, the call is made again with the new access token.
    auth.revoke_access_tokens();
    let result = get_ticket(&app, &tenant.key, &id, "T-2").await;
    assert_eq!(result["structuredContent"]["id"], "T-2", "{result}");
    assert_eq!(refreshes(&auth), 1);
    let calls = api.calls();
    let last_two: Vec<&str> = calls[calls.len() - 2..].iter().map(|c| c.path.as_str()).collect();
    assert_eq!(last_two, ["/api/v1/tickets/T-2", "/api/v1/tickets/T-2"], "refused, then retried");
    let renewed = last_bearer(&api);
    assert!(renewed != granted && auth.issued(&renewed), "a new token: {renewed}");
    let result = get_ticket(&app, &tenant.key, &id, "T-3").await;
    assert_eq!(result["isError"], false, "{result}");
    assert_eq!((last_bearer(&api), refreshes(&auth)), (renewed, 1), "the new token is kept");
}

#[sqlx::test]
async fn an_expired_authorization_code_token_is_refreshed_before_the_call(db: PgPool) {
    // Tokens that expire as they are issued: each call finds its token expired.
    let (auth, api) = servers(0).await;
    let app = TestApp::spawn_public(db, |_| ()).await;
    let tenant = app.tenant("acme").await;
    let id = authorized(&app, &tenant.key, &api, &auth).await;
    let granted = last_bearer(&api);
    let seen_before = api.seen().len();

    let result = get_ticket(&app, &tenant.key, &id, "T-1").await;
    assert_eq!(result["structuredContent"]["id"], "T-1", "{result}");
    assert_eq!(refreshes(&auth), 1);
    assert_eq!(api.seen().len(), seen_before + 1, "one call, with the refreshed token");
    assert_ne!(last_bearer(&api), granted);
}

#[sqlx::test]
async fn two_authorization_code_auth_types_are_refused_on_save(db: PgPool) {
    let (auth, api) = servers(3600).await;
    let app = TestApp::spawn(db).await;
    let tenant = app.tenant("acme").await;
    let mut code = authorization_code(&api, &auth);
    let mut second = code["authentication"][0].clone();
    second["id"] = json!("second");
    code["authentication"].as_array_mut().unwrap().push(second);
    let body = json!({"kind": "rest", "descriptor": code});
    let problem = expect_problem(
        app.post_json("/api/v1/connectors", &tenant.key, body).await,
        422,
        "rest_oauth2_unsupported",
    )
    .await;
    assert!(problem["detail"].as_str().unwrap().contains("at most one"), "{problem}");

    let one = json!({"kind": "rest", "descriptor": authorization_code(&api, &auth)});
    let created = expect_json(app.post_json("/api/v1/connectors", &tenant.key, one).await, 201).await;
    let res = app
        .request(
            Method::PATCH,
            &format!("/api/v1/connectors/{}", created["id"].as_str().unwrap()),
            Some(&tenant.key),
        )
        .json(&json!({"descriptor": code}))
        .send()
        .await
        .unwrap();
    expect_problem(res, 422, "rest_oauth2_unsupported").await;
}
