//! Text as it enters: a NUL character anywhere in a JSON body or a query string is the
//! client's mistake (400 `validation_failed` naming the field), never a 500 from Postgres,
//! whichever route and field it arrives in.

use reqwest::Method;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::support::{ADMIN_TOKEN, TestApp, expect_problem};

fn fields(problem: &Value) -> Vec<String> {
    problem["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap().to_owned()).collect()
}

async fn refused(app: &TestApp, method: Method, path: &str, key: &str, body: Value) -> Vec<String> {
    let res = app.request(method.clone(), path, Some(key)).json(&body).send().await.unwrap();
    let problem = expect_problem(res, 400, "validation_failed").await;
    assert!(!problem.to_string().contains("a\\u0000b"), "the value is not echoed: {problem}");
    fields(&problem)
}

#[sqlx::test]
async fn nul_in_any_stored_string_is_a_400_naming_the_field(db: PgPool) {
    let app = TestApp::spawn(db.clone()).await;
    let t = app.tenant("a").await;
    let post = |path: &'static str, key: &'static str| (Method::POST, path, key);
    let base = |extra: Value| {
        let mut body = json!({"url": "https://nul.example/mcp", "auth": {"mode": "none"}, "discover": false});
        body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        body
    };
    let cases: Vec<((Method, &str, &str), Value, &str)> = vec![
        (post("/api/v1/connectors", "tenant"), base(json!({"metadata": {"k": "a\u{0}b"}})), "metadata.k"),
        (post("/api/v1/connectors", "tenant"), base(json!({"metadata": {"a\u{0}b": "v"}})), "metadata"),
        (post("/api/v1/connectors", "tenant"), base(json!({"name": "a\u{0}b"})), "name"),
        (
            post("/api/v1/connectors", "tenant"),
            base(
                json!({"auth": {"mode": "oauth2_authorization_code", "resource": "https://nul.example/a\u{0}b"}}),
            ),
            "auth.resource",
        ),
        (post("/api/v1/api-keys", "tenant"), json!({"scopes": ["read"], "name": "a\u{0}b"}), "name"),
        (post("/api/v1/admin/tenants", "operator"), json!({"name": "a\u{0}b"}), "name"),
    ];
    for ((method, path, who), body, field) in cases {
        let key = if who == "operator" { ADMIN_TOKEN } else { t.key.as_str() };
        let got = refused(&app, method, path, key, body).await;
        assert_eq!(got, [field], "{path}");
    }

    let admin_keys = format!("/api/v1/admin/tenants/{}/api-keys", t.id);
    let got =
        refused(&app, Method::POST, &admin_keys, ADMIN_TOKEN, json!({"scopes": ["read"], "name": "a\u{0}b"}))
            .await;
    assert_eq!(got, ["name"]);

    let c = app
        .create_connector(&t.key, json!({"url": "https://nul.example/mcp", "auth": {"mode": "none"}}))
        .await;
    let path = format!("/api/v1/connectors/{}", c["id"].as_str().unwrap());
    let got = refused(&app, Method::PATCH, &path, &t.key, json!({"metadata": {"k": "a\u{0}b"}})).await;
    assert_eq!(got, ["metadata.k"]);

    // Nothing was stored by the refused requests.
    let connectors: i64 = sqlx::query_scalar("SELECT count(*) FROM connectors").fetch_one(&db).await.unwrap();
    let tenants: i64 = sqlx::query_scalar("SELECT count(*) FROM tenants").fetch_one(&db).await.unwrap();
    let keys: i64 = sqlx::query_scalar("SELECT count(*) FROM api_keys").fetch_one(&db).await.unwrap();
    assert_eq!((connectors, tenants, keys), (1, 1, 1));
}

#[sqlx::test]
async fn nul_in_a_query_string_is_a_400_naming_the_parameter(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let t = app.tenant("a").await;
    for (query, field) in [("owner=a%00b", "owner"), ("limit=5&cursor=%00", "cursor"), ("a%00b=1", "query")] {
        let res = app
            .request(Method::GET, &format!("/api/v1/connectors?{query}"), Some(&t.key))
            .send()
            .await
            .unwrap();
        let problem = expect_problem(res, 400, "validation_failed").await;
        assert_eq!(fields(&problem), [field], "{query}");
    }
    let res =
        app.request(Method::GET, "/api/v1/oauth/callback?state=a%00b&code=c", None).send().await.unwrap();
    let problem = expect_problem(res, 400, "validation_failed").await;
    assert_eq!(fields(&problem), ["state"]);
}
