//! REST connectors with an OAuth 2 client-credentials auth type (issue 15, decision 0066):
//! the real test authorization server issues the tokens, a real REST API checks them. One
//! token serves several calls; a token within 30 s of its expiry is replaced; a token the API
//! refuses is replaced once; the client secret is sealed and never echoed; the
//! authorization code grant is refused on save.

use std::sync::Arc;

use reqwest::Method;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::support::auth_server::{AsConfig, AuthServer};
use crate::support::rest_api::TicketApi;
use crate::support::{TestApp, expect_json, expect_problem};

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
async fn a_wrong_client_secret_is_rejected_on_connect_and_authorization_code_on_save(db: PgPool) {
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

    let mut code = descriptor(&api, &auth);
    code["authentication"][0]["grant_type"] = json!("authorization_code");
    code["authentication"][0]["authorization_url"] = json!(format!("{}/authorize", auth.issuer));
    let body = json!({"kind": "rest", "descriptor": code.clone()});
    let problem = expect_problem(
        app.post_json("/api/v1/connectors", &tenant.key, body).await,
        422,
        "rest_oauth2_unsupported",
    )
    .await;
    assert!(problem["detail"].as_str().unwrap().contains("authorization_code"), "{problem}");
    let res = app
        .request(Method::PATCH, &format!("/api/v1/connectors/{id}"), Some(&tenant.key))
        .json(&json!({"descriptor": code}))
        .send()
        .await
        .unwrap();
    expect_problem(res, 422, "rest_oauth2_unsupported").await;
}
