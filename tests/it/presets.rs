//! Presets: listing (never secrets) and matching on create.

use reqwest::Method;
use secrecy::ExposeSecret as _;
use serde_json::{Value, json};
use sqlx::PgPool;
use switchboard::connectors::{Presets, SecretField, service};
use switchboard::http::AppState;

use crate::support::{TestApp, expect_json, test_keyring, test_settings};

const PRESETS: &str = r#"[
  {"id": "box", "url": "https://mcp.box.com", "client_id": "box-client", "client_secret": "box-preset-secret",
   "metadata": {"name": "Box", "description": "Files", "category": "storage"}},
  {"url": "https://mcp.linear.app/sse", "name": "Linear", "transport": "sse"}
]"#;

async fn app_with_presets(db: PgPool) -> TestApp {
    let presets = Presets::load(Some(PRESETS)).unwrap();
    TestApp::spawn_with(AppState::new(db, test_keyring("t"), presets, test_settings())).await
}

#[sqlx::test]
async fn builtin_presets_are_listed(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let t = app.tenant("a").await;
    let list = expect_json(
        app.request(Method::GET, "/api/v1/connectors/presets", Some(&t.key)).send().await.unwrap(),
        200,
    )
    .await;
    let urls: Vec<&str> =
        list["items"].as_array().unwrap().iter().map(|p| p["url"].as_str().unwrap()).collect();
    for url in [
        "https://mcp.stripe.com",
        "https://mcp.box.com",
        "https://api.githubcopilot.com/mcp",
        "https://mcp.linear.app/sse",
        "https://mcp.deepwiki.com/mcp",
    ] {
        assert!(urls.contains(&url), "{url} missing: {urls:?}");
    }
    let linear = list["items"].as_array().unwrap().iter().find(|p| p["id"] == "linear").unwrap();
    assert_eq!(linear["transport"], "sse");
}

#[sqlx::test]
async fn configured_presets_are_listed_without_client_secrets(db: PgPool) {
    let app = app_with_presets(db).await;
    let t = app.tenant("a").await;
    let res = app.request(Method::GET, "/api/v1/connectors/presets", Some(&t.key)).send().await.unwrap();
    let text = res.text().await.unwrap();
    assert!(!text.contains("box-preset-secret"), "{text}");
    let list: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 2);
    assert_eq!(list["items"][0]["has_client"], true);
    assert_eq!(list["items"][1]["id"], "linear");
}

#[sqlx::test]
async fn a_matching_url_takes_the_presets_client_and_display_data(db: PgPool) {
    let app = app_with_presets(db).await;
    let t = app.tenant("a").await;
    let c = app.create_connector(&t.key, json!({"url": "HTTPS://MCP.Box.com/"})).await;
    assert_eq!(c["preset_id"], "box");
    assert_eq!(c["name"], "Box");
    assert_eq!(c["description"], "Files");
    assert_eq!(c["metadata"]["category"], "storage");
    assert_eq!(c["auth"]["mode"], "oauth2_authorization_code");
    assert_eq!(c["auth"]["client_id"], "box-client");
    assert_eq!(c["auth"]["has_client_secret"], true);
    assert!(!c.to_string().contains("box-preset-secret"));

    // The preset's secret was sealed for this connector and opens as its client secret.
    let connector =
        service::get(&app.state.db, t.id, c["id"].as_str().unwrap().parse().unwrap()).await.unwrap();
    let secret =
        service::open_secret(&app.state.db, &app.state.keyring, &connector, SecretField::ClientSecret)
            .await
            .unwrap();
    assert_eq!(secret.unwrap().expose_secret(), "box-preset-secret");

    let linear =
        app.create_connector(&t.key, json!({"url": "https://mcp.linear.app/sse", "name": "Mine"})).await;
    assert_eq!((linear["preset_id"].as_str(), linear["name"].as_str()), (Some("linear"), Some("Mine")));
    assert_eq!(linear["transport"], "sse");
    assert_eq!(linear["auth"], Value::Null);
}

#[sqlx::test]
async fn the_requests_own_client_and_fields_win(db: PgPool) {
    let app = app_with_presets(db).await;
    let t = app.tenant("a").await;
    let c = app
        .create_connector(
            &t.key,
            json!({"url": "https://mcp.box.com", "metadata": {"mine": "yes"},
                   "auth": {"mode": "oauth2_authorization_code", "client_id": "own-client"}}),
        )
        .await;
    assert_eq!(c["preset_id"], "box");
    assert_eq!(c["metadata"], json!({"mine": "yes"}));
    assert_eq!(c["auth"]["client_id"], "own-client");
    assert_eq!(c["auth"]["has_client_secret"], false, "never mix the preset's secret with another client");

    let bearer = app
        .create_connector(
            &t.key,
            json!({"url": "https://mcp.box.com", "auth": {"mode": "bearer", "token": "t"}}),
        )
        .await;
    assert_eq!(bearer["auth"], json!({"mode": "bearer", "has_token": true}));
}

#[sqlx::test]
async fn match_preset_false_takes_nothing_from_presets(db: PgPool) {
    let app = app_with_presets(db).await;
    let t = app.tenant("a").await;
    let c = app.create_connector(&t.key, json!({"url": "https://mcp.box.com", "match_preset": false})).await;
    assert_eq!(c["preset_id"], Value::Null);
    assert_eq!(c["name"], "mcp.box.com");
    assert_eq!(c["metadata"], json!({}));
    assert_eq!(c["auth"], Value::Null);
}
