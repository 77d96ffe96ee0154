//! Tenant isolation as a matrix: tenant B's key on every one of tenant A's routes.

use reqwest::Method;
use serde_json::json;
use sqlx::PgPool;

use crate::support::{TestApp, expect_json, expect_problem};

#[sqlx::test]
async fn another_tenants_ids_are_not_found_and_never_leak(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let a = app.tenant("a").await;
    let b = app.tenant("b").await;
    let secret_name = "tenant-a-private-name";
    let c = app
        .create_connector(
            &a.key,
            json!({"url": "https://a-only.example.com/mcp", "name": secret_name, "owner": "alice"}),
        )
        .await;
    let id = c["id"].as_str().unwrap();
    let one = format!("/api/v1/connectors/{id}");
    let a_keys =
        expect_json(app.request(Method::GET, "/api/v1/api-keys", Some(&a.key)).send().await.unwrap(), 200)
            .await;
    let a_key_id = a_keys["items"][0]["id"].as_str().unwrap().to_owned();

    let routes = [
        (Method::GET, one.clone(), None),
        (Method::PATCH, one.clone(), Some(json!({"name": "stolen"}))),
        (Method::PATCH, one.clone(), Some(json!({"auth": {"mode": "bearer", "token": "t"}}))),
        (Method::DELETE, one.clone(), None),
        (Method::DELETE, format!("/api/v1/api-keys/{a_key_id}"), None),
    ];
    for (method, path, body) in routes {
        let mut req = app.request(method.clone(), &path, Some(&b.key));
        if let Some(body) = body {
            req = req.json(&body);
        }
        let res = req.send().await.unwrap();
        let problem = expect_problem(res, 404, "not_found").await;
        assert!(!problem.to_string().contains(secret_name), "{method} {path}");
    }
    for path in ["/api/v1/connectors", "/api/v1/connectors?owner=alice", "/api/v1/api-keys"] {
        let listed = app.request(Method::GET, path, Some(&b.key)).send().await.unwrap().text().await.unwrap();
        assert!(
            !listed.contains(id) && !listed.contains(secret_name) && !listed.contains(&a_key_id),
            "{path}: {listed}"
        );
    }

    // Tenant A still sees everything unchanged, and its key still works.
    let still = expect_json(app.request(Method::GET, &one, Some(&a.key)).send().await.unwrap(), 200).await;
    assert_eq!(still["name"], secret_name);
}
