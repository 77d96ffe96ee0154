//! Tenants and API keys: the admin API, self-service keys, authentication and scopes.

use reqwest::Method;
use serde_json::json;
use sqlx::PgPool;
use switchboard::config::Settings;
use switchboard::connectors::Presets;
use switchboard::http::AppState;

use crate::support::{ADMIN_TOKEN, TestApp, expect_json, expect_problem, test_keyring};

#[sqlx::test]
async fn operator_creates_a_tenant_with_a_key_shown_once(db: PgPool) {
    let app = TestApp::spawn(db.clone()).await;
    let res = app
        .request(Method::POST, "/api/v1/admin/tenants", Some(ADMIN_TOKEN))
        .json(&json!({ "name": "Acme" }))
        .send()
        .await
        .unwrap();
    let created = expect_json(res, 201).await;
    let key = created["api_key"].as_str().unwrap();
    assert!(key.starts_with("sk_") && key.len() >= 3 + 43, "{key}");
    assert!(key[3..].chars().all(|c| c.is_ascii_alphanumeric()));
    assert_eq!(created["scopes"], json!(["read", "write", "proxy", "admin"]));

    // Only a hash is stored.
    let stored: Vec<u8> = sqlx::query_scalar("SELECT key_hash FROM api_keys").fetch_one(&db).await.unwrap();
    assert_eq!(stored.len(), 32);
    assert!(!String::from_utf8_lossy(&stored).contains(&key[3..]));

    // Listing keys never shows the key again.
    let path = format!("/api/v1/admin/tenants/{}/api-keys", created["tenant_id"].as_str().unwrap());
    let res = app.request(Method::GET, &path, Some(ADMIN_TOKEN)).send().await.unwrap();
    let text = res.text().await.unwrap();
    assert!(!text.contains(key), "{text}");
    assert!(text.contains(&key[..11]), "the prefix identifies the key: {text}");

    let tenant = expect_json(
        app.request(
            Method::GET,
            &format!("/api/v1/admin/tenants/{}", created["tenant_id"].as_str().unwrap()),
            Some(ADMIN_TOKEN),
        )
        .send()
        .await
        .unwrap(),
        200,
    )
    .await;
    assert_eq!(tenant["name"], "Acme");
    let list = expect_json(
        app.request(Method::GET, "/api/v1/admin/tenants", Some(ADMIN_TOKEN)).send().await.unwrap(),
        200,
    )
    .await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
}

#[sqlx::test]
async fn admin_api_requires_the_operator_token(db: PgPool) {
    let app = TestApp::spawn(db.clone()).await;
    let tenant = app.tenant("a").await;
    for token in [None, Some("wrong-token-wrong-token"), Some(tenant.key.as_str())] {
        let res = app.request(Method::GET, "/api/v1/admin/tenants", token).send().await.unwrap();
        assert_eq!(res.headers()["www-authenticate"], "Bearer");
        expect_problem(res, 401, "unauthorized").await;
    }
    // With no operator token configured the admin API is off entirely.
    let off =
        TestApp::spawn_with(AppState::new(db, test_keyring("t"), Presets::builtin(), Settings::default()))
            .await;
    let res = off.request(Method::GET, "/api/v1/admin/tenants", Some(ADMIN_TOKEN)).send().await.unwrap();
    let body = expect_problem(res, 401, "unauthorized").await;
    assert!(body["detail"].as_str().unwrap().contains("SWITCHBOARD_ADMIN_TOKEN"));
}

#[sqlx::test]
async fn admin_api_validates_input(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let res = app
        .request(Method::POST, "/api/v1/admin/tenants", Some(ADMIN_TOKEN))
        .json(&json!({"name": " "}))
        .send()
        .await
        .unwrap();
    let body = expect_problem(res, 400, "validation_failed").await;
    assert_eq!(body["errors"][0]["field"], "name");
    let res = app
        .request(Method::POST, "/api/v1/admin/tenants", Some(ADMIN_TOKEN))
        .json(&json!({"nom": "x"}))
        .send()
        .await
        .unwrap();
    expect_problem(res, 400, "invalid_json").await;
    let path = format!("/api/v1/admin/tenants/{}/api-keys", uuid::Uuid::now_v7());
    let res = app
        .request(Method::POST, &path, Some(ADMIN_TOKEN))
        .json(&json!({"scopes": ["read"]}))
        .send()
        .await
        .unwrap();
    expect_problem(res, 404, "not_found").await;
    let tenant = app.tenant("t").await;
    let path = format!("/api/v1/admin/tenants/{}/api-keys", tenant.id);
    let res = app
        .request(Method::POST, &path, Some(ADMIN_TOKEN))
        .json(&json!({"scopes": []}))
        .send()
        .await
        .unwrap();
    expect_problem(res, 400, "validation_failed").await;
    let res = app
        .request(Method::POST, &path, Some(ADMIN_TOKEN))
        .json(&json!({"scopes": ["root"]}))
        .send()
        .await
        .unwrap();
    expect_problem(res, 400, "invalid_json").await;
    let res = app
        .request(Method::POST, &path, Some(ADMIN_TOKEN))
        .json(&json!({"scopes": ["read"]}))
        .send()
        .await
        .unwrap();
    let issued = expect_json(res, 201).await;
    assert_eq!(issued["scopes"], json!(["read"]));
}

#[sqlx::test]
async fn missing_unknown_and_revoked_keys_get_401_with_a_challenge(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let tenant = app.tenant("a").await;
    let fake = format!("sk_{}", "x".repeat(43));
    for key in [None, Some("not-a-key"), Some(fake.as_str())] {
        let res = app.request(Method::GET, "/api/v1/connectors", key).send().await.unwrap();
        assert_eq!(res.headers()["www-authenticate"], "Bearer");
        expect_problem(res, 401, "unauthorized").await;
    }
    let res = app
        .request(Method::GET, "/api/v1/connectors", None)
        .header("authorization", format!("Basic {}", tenant.key))
        .send()
        .await
        .unwrap();
    expect_problem(res, 401, "unauthorized").await;

    // Revoke through the operator API: the key stops working at once.
    let keys = expect_json(
        app.request(Method::GET, "/api/v1/api-keys", Some(&tenant.key)).send().await.unwrap(),
        200,
    )
    .await;
    let key_id = keys["items"][0]["id"].as_str().unwrap().to_owned();
    let res = app.request(Method::GET, "/api/v1/connectors", Some(&tenant.key)).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let res = app
        .request(Method::DELETE, &format!("/api/v1/admin/api-keys/{key_id}"), Some(ADMIN_TOKEN))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let res = app.request(Method::GET, "/api/v1/connectors", Some(&tenant.key)).send().await.unwrap();
    expect_problem(res, 401, "unauthorized").await;
}

#[sqlx::test]
async fn each_route_enforces_its_scope(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let tenant = app.tenant("a").await;
    let connector = app.create_connector(&tenant.key, json!({"url": "https://mcp.example.com/mcp"})).await;
    let id = connector["id"].as_str().unwrap();
    let one = format!("/api/v1/connectors/{id}");
    // (method, path, body, scope needed)
    let routes: Vec<(Method, String, Option<serde_json::Value>, &str)> = vec![
        (Method::GET, "/api/v1/connectors".into(), None, "read"),
        (Method::GET, "/api/v1/connectors/presets".into(), None, "read"),
        (Method::GET, one.clone(), None, "read"),
        (
            Method::POST,
            "/api/v1/connectors".into(),
            Some(json!({"url": "https://x.example.com", "discover": false})),
            "write",
        ),
        (Method::PATCH, one.clone(), Some(json!({"name": "n"})), "write"),
        (Method::GET, "/api/v1/api-keys".into(), None, "admin"),
        (Method::POST, "/api/v1/api-keys".into(), Some(json!({"scopes": ["read"]})), "admin"),
        (Method::DELETE, one.clone(), None, "write"),
    ];
    for scope in ["read", "write", "proxy", "admin"] {
        let key = app.key_with_scopes(&tenant, &[scope]).await;
        for (method, path, body, needed) in &routes {
            if *needed == "write" && *method == Method::DELETE && scope == "write" {
                continue; // deleting is checked last, below
            }
            let mut req = app.request(method.clone(), path, Some(&key));
            if let Some(body) = body {
                req = req.json(body);
            }
            let res = req.send().await.unwrap();
            if scope == *needed {
                assert!(res.status().is_success(), "{method} {path} with {scope}: {}", res.status());
            } else {
                let body = expect_problem(res, 403, "insufficient_scope").await;
                assert!(body["detail"].as_str().unwrap().contains(needed));
            }
        }
    }
    let writer = app.key_with_scopes(&tenant, &["write"]).await;
    let res = app.request(Method::DELETE, &one, Some(&writer)).send().await.unwrap();
    assert_eq!(res.status(), 204);
}

#[sqlx::test]
async fn tenants_manage_their_own_keys(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let tenant = app.tenant("a").await;
    let res = app
        .request(Method::POST, "/api/v1/api-keys", Some(&tenant.key))
        .json(&json!({"scopes": ["proxy", "proxy"], "name": "agent runtime"}))
        .send()
        .await
        .unwrap();
    let issued = expect_json(res, 201).await;
    assert_eq!(issued["scopes"], json!(["proxy"]), "duplicates collapse");
    assert_eq!(issued["name"], "agent runtime");
    let new_key = issued["api_key"].as_str().unwrap();

    let list = expect_json(
        app.request(Method::GET, "/api/v1/api-keys", Some(&tenant.key)).send().await.unwrap(),
        200,
    )
    .await;
    assert_eq!(list["items"].as_array().unwrap().len(), 2);
    assert!(!list.to_string().contains(new_key));

    let path = format!("/api/v1/api-keys/{}", issued["id"].as_str().unwrap());
    assert_eq!(app.request(Method::DELETE, &path, Some(&tenant.key)).send().await.unwrap().status(), 204);
    let res = app.request(Method::GET, "/api/v1/connectors/presets", Some(new_key)).send().await.unwrap();
    expect_problem(res, 401, "unauthorized").await;
    let list = expect_json(
        app.request(Method::GET, "/api/v1/api-keys", Some(&tenant.key)).send().await.unwrap(),
        200,
    )
    .await;
    assert!(list["items"].as_array().unwrap().iter().any(|k| k["revoked_at"].is_string()));
}

#[sqlx::test]
async fn a_tenant_patch_applies_all_of_its_changes_or_none(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let t = app.tenant("a").await;
    let path = format!("/api/v1/admin/tenants/{}", t.id);
    let patch =
        |body: serde_json::Value| app.request(Method::PATCH, &path, Some(ADMIN_TOKEN)).json(&body).send();
    // A valid allow-list beside an invalid limit: nothing is written.
    let res =
        patch(json!({"redirect_allowlist": ["https://console.example.com"], "limits": {"api_rps": -1}}));
    expect_problem(res.await.unwrap(), 400, "validation_failed").await;
    let tenant =
        expect_json(app.request(Method::GET, &path, Some(ADMIN_TOKEN)).send().await.unwrap(), 200).await;
    assert_eq!(tenant["redirect_allowlist"], json!([]));

    let res =
        patch(json!({"redirect_allowlist": ["https://console.example.com"], "log_tool_payloads": true}));
    let tenant = expect_json(res.await.unwrap(), 200).await;
    assert_eq!(tenant["redirect_allowlist"], json!(["https://console.example.com"]));
    assert_eq!(tenant["log_tool_payloads"], true);
}
