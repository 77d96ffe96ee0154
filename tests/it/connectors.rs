//! Connector CRUD over HTTP: happy paths, every kind of bad input, pagination and filters.

use std::collections::HashSet;

use reqwest::Method;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::support::{TestApp, expect_json, expect_problem};

#[sqlx::test]
async fn create_read_update_delete(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let t = app.tenant("a").await;
    let created = app
        .create_connector(
            &t.key,
            json!({
                "url": "https://mcp.example.com/mcp",
                "name": "Example",
                "description": "An example server",
                "transport": "sse",
                "metadata": {"team": "growth"},
                "owner": "user-42",
                "auth": {"mode": "header", "header_name": "X-Api-Key", "value": "k-123"}
            }),
        )
        .await;
    assert_eq!(created["status"], "created");
    assert_eq!(created["name"], "Example");
    assert_eq!(created["transport"], "sse");
    assert_eq!(created["owner"], "user-42");
    assert_eq!(created["metadata"], json!({"team": "growth"}));
    assert_eq!(
        created["auth"],
        json!({"mode": "header", "header_name": "X-Api-Key", "has_header_value": true})
    );
    assert_eq!(created["disconnect_reason"], Value::Null);
    assert_eq!(created["preset_id"], Value::Null);
    let id = created["id"].as_str().unwrap();
    assert_eq!(uuid::Uuid::parse_str(id).unwrap().get_version_num(), 7);
    let path = format!("/api/v1/connectors/{id}");

    let read = expect_json(app.request(Method::GET, &path, Some(&t.key)).send().await.unwrap(), 200).await;
    assert_eq!(created["discovery_result"], Value::Null, "discovery was turned off");
    let mut without_discovery = created.clone();
    without_discovery.as_object_mut().unwrap().remove("discovery_result");
    assert_eq!(read, without_discovery);

    let res = app
        .request(Method::PATCH, &path, Some(&t.key))
        .json(&json!({"name": "Renamed", "description": null, "metadata": {"env": "prod"}}))
        .send()
        .await
        .unwrap();
    let patched = expect_json(res, 200).await;
    assert_eq!(patched["name"], "Renamed");
    assert_eq!(patched["description"], Value::Null);
    assert_eq!(patched["metadata"], json!({"env": "prod"}));
    assert_eq!(patched["url"], created["url"]);
    assert_eq!(patched["auth"], created["auth"]);

    // A field left out stays as it was.
    let res = app
        .request(Method::PATCH, &path, Some(&t.key))
        .json(&json!({"description": "back"}))
        .send()
        .await
        .unwrap();
    let patched = expect_json(res, 200).await;
    assert_eq!((patched["name"].as_str(), patched["description"].as_str()), (Some("Renamed"), Some("back")));

    let res = app.request(Method::DELETE, &path, Some(&t.key)).send().await.unwrap();
    assert_eq!(res.status(), 204);
    let res = app.request(Method::GET, &path, Some(&t.key)).send().await.unwrap();
    expect_problem(res, 404, "not_found").await;
    let res = app.request(Method::DELETE, &path, Some(&t.key)).send().await.unwrap();
    expect_problem(res, 404, "not_found").await;
}

#[sqlx::test]
async fn defaults_fill_what_the_request_leaves_out(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let t = app.tenant("a").await;
    let c = app.create_connector(&t.key, json!({"url": "https://Tools.Example.com/mcp"})).await;
    assert_eq!(c["name"], "tools.example.com");
    assert_eq!(c["url"], "https://tools.example.com/mcp");
    assert_eq!(c["transport"], "streamable_http");
    assert_eq!(c["metadata"], json!({}));
    assert_eq!(c["auth"], Value::Null, "no auth = discover on connect");
}

#[sqlx::test]
async fn every_auth_mode_is_accepted_and_shown_without_secrets(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let t = app.tenant("a").await;
    let cases = [
        (json!({"mode": "none"}), json!({"mode": "none"})),
        (json!({"mode": "bearer", "token": "tok"}), json!({"mode": "bearer", "has_token": true})),
        (
            json!({"mode": "basic", "username": "u", "password": "p"}),
            json!({"mode": "basic", "username": "u", "has_password": true}),
        ),
        (
            json!({"mode": "oauth2_client_credentials", "client_id": "cid", "client_secret": "cs",
                   "scopes": ["a", "b"], "resource": "https://mcp.example.com", "token_endpoint_auth_method": "client_secret_post"}),
            json!({"mode": "oauth2_client_credentials", "client_id": "cid", "has_client_secret": true, "has_token": false,
                   "scopes": ["a", "b"], "resource": "https://mcp.example.com", "token_endpoint_auth_method": "client_secret_post"}),
        ),
        (
            json!({"mode": "oauth2_authorization_code"}),
            json!({"mode": "oauth2_authorization_code", "scopes": [], "has_client_secret": false, "has_token": false}),
        ),
        (
            json!({"mode": "oauth2_authorization_code", "client_id": "public-client"}),
            json!({"mode": "oauth2_authorization_code", "client_id": "public-client", "scopes": [], "has_client_secret": false, "has_token": false}),
        ),
    ];
    for (auth, shown) in cases {
        let c =
            app.create_connector(&t.key, json!({"url": "https://mcp.example.com/mcp", "auth": auth})).await;
        assert_eq!(c["auth"], shown);
    }
}

async fn create_problem(app: &TestApp, key: &str, body: Value) -> Value {
    let res = app.request(Method::POST, "/api/v1/connectors", Some(key)).json(&body).send().await.unwrap();
    expect_problem(res, 400, "validation_failed").await
}

fn fields(problem: &Value) -> Vec<String> {
    problem["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap().to_owned()).collect()
}

#[sqlx::test]
async fn validation_names_every_bad_field(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let t = app.tenant("a").await;
    let many: serde_json::Map<String, Value> = (0..17).map(|i| (format!("k{i}"), json!("v"))).collect();
    let problem = create_problem(
        &app,
        &t.key,
        json!({
            "url": "ftp://mcp.example.com",
            "name": "",
            "description": "x".repeat(2001),
            "owner": "o".repeat(257),
            "metadata": many,
            "auth": {"mode": "oauth2_authorization_code", "client_secret": "s", "scopes": ["has space"], "resource": "not a url"}
        }),
    )
    .await;
    let got = fields(&problem);
    for field in [
        "url",
        "name",
        "description",
        "owner",
        "metadata",
        "auth.client_secret",
        "auth.scopes",
        "auth.resource",
    ] {
        assert!(got.iter().any(|f| f == field), "{field} missing from {got:?}");
    }
    assert!(problem["detail"].as_str().unwrap().contains("auth.client_secret"));
}

#[sqlx::test]
async fn urls_and_metadata_are_bounded(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let t = app.tenant("a").await;
    let long_url = format!("https://mcp.example.com/{}", "a".repeat(2048 - 24));
    assert_eq!(long_url.len(), 2048);
    app.create_connector(&t.key, json!({"url": long_url})).await;
    let too_long = format!("{long_url}a");
    assert_eq!(fields(&create_problem(&app, &t.key, json!({"url": too_long})).await), ["url"]);
    for url in [
        "mcp.example.com",
        "javascript:alert(1)",
        "https://user:pw@mcp.example.com",
        "https://x.com/#frag",
        "file:///etc/passwd",
    ] {
        let problem = create_problem(&app, &t.key, json!({"url": url})).await;
        assert!(fields(&problem).iter().all(|f| f == "url"), "{url}: {problem}");
    }

    let ok = |n: usize, k: usize, v: usize| -> Value {
        (0..n)
            .map(|i| (format!("{i:0>width$}", width = k), json!("v".repeat(v))))
            .collect::<serde_json::Map<_, _>>()
            .into()
    };
    app.create_connector(&t.key, json!({"url": "https://a.example.com", "metadata": ok(16, 64, 512)})).await;
    for bad in [ok(17, 2, 1), ok(1, 65, 1), ok(1, 2, 513)] {
        let problem =
            create_problem(&app, &t.key, json!({"url": "https://a.example.com", "metadata": bad})).await;
        assert!(fields(&problem)[0].starts_with("metadata"), "{problem}");
    }
}

#[sqlx::test]
async fn auth_inputs_are_checked(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let t = app.tenant("a").await;
    let cases = [
        (json!({"mode": "bearer", "token": ""}), "auth.token"),
        (json!({"mode": "bearer", "token": "a\r\nInjected: 1"}), "auth.token"),
        (json!({"mode": "basic", "username": "a:b", "password": "p"}), "auth.username"),
        (json!({"mode": "header", "header_name": "Bad Header", "value": "v"}), "auth.header_name"),
        (json!({"mode": "header", "header_name": "Mcp-Session-Id", "value": "v"}), "auth.header_name"),
        (json!({"mode": "oauth2_client_credentials", "client_secret": "s"}), "auth.client_secret"),
        (json!({"mode": "oauth2_client_credentials"}), "auth.client_id"),
    ];
    for (auth, field) in cases {
        let problem =
            create_problem(&app, &t.key, json!({"url": "https://a.example.com", "auth": auth})).await;
        assert!(fields(&problem).iter().any(|f| f == field), "{field}: {problem}");
    }
}

#[sqlx::test]
async fn malformed_requests_are_client_errors(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let t = app.tenant("a").await;
    let post = |body: String, content_type: &'static str| {
        app.request(Method::POST, "/api/v1/connectors", Some(&t.key))
            .header("content-type", content_type)
            .body(body)
    };
    expect_problem(post("{not json".into(), "application/json").send().await.unwrap(), 400, "invalid_json")
        .await;
    expect_problem(post("[]".into(), "application/json").send().await.unwrap(), 400, "invalid_json").await;
    expect_problem(
        post(r#"{"url": 5}"#.into(), "application/json").send().await.unwrap(),
        400,
        "invalid_json",
    )
    .await;
    let unknown = post(r#"{"url": "https://a.example.com", "colour": "red"}"#.into(), "application/json");
    let problem = expect_problem(unknown.send().await.unwrap(), 400, "invalid_json").await;
    assert!(problem["detail"].as_str().unwrap().contains("colour"));
    let bad_mode =
        post(r#"{"url": "https://a.example.com", "auth": {"mode": "kerberos"}}"#.into(), "application/json");
    expect_problem(bad_mode.send().await.unwrap(), 400, "invalid_json").await;
    let text = post(r#"{"url": "https://a.example.com"}"#.into(), "text/plain");
    expect_problem(text.send().await.unwrap(), 415, "unsupported_media_type").await;
    // A create may carry a REST descriptor: its limit is the JSON body limit plus 1 MiB.
    let huge = format!(r#"{{"url": "https://a.example.com", "description": "{}"}}"#, "x".repeat(1200 * 1024));
    expect_problem(post(huge, "application/json").send().await.unwrap(), 413, "payload_too_large").await;

    for path in [
        "/api/v1/connectors/not-a-uuid",
        "/api/v1/connectors/123",
        &format!("/api/v1/connectors/{}", uuid::Uuid::now_v7()),
    ] {
        let res = app.request(Method::GET, path, Some(&t.key)).send().await.unwrap();
        expect_problem(res, 404, "not_found").await;
        let res =
            app.request(Method::PATCH, path, Some(&t.key)).json(&json!({"name": "x"})).send().await.unwrap();
        expect_problem(res, 404, "not_found").await;
    }
    let bad_query =
        app.request(Method::GET, "/api/v1/connectors?limit=abc", Some(&t.key)).send().await.unwrap();
    expect_problem(bad_query, 400, "invalid_query").await;
    let bad_query =
        app.request(Method::GET, "/api/v1/connectors?color=red", Some(&t.key)).send().await.unwrap();
    expect_problem(bad_query, 400, "invalid_query").await;
    for query in ["limit=0", "limit=201", "cursor=garbage"] {
        let res = app
            .request(Method::GET, &format!("/api/v1/connectors?{query}"), Some(&t.key))
            .send()
            .await
            .unwrap();
        expect_problem(res, 400, "validation_failed").await;
    }
}

#[sqlx::test]
async fn list_pages_through_everything_once_newest_first(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let t = app.tenant("a").await;
    let mut created = Vec::new();
    for i in 0..7 {
        let owner = if i % 2 == 0 { "alice" } else { "bob" };
        let c = app
            .create_connector(&t.key, json!({"url": format!("https://s{i}.example.com"), "owner": owner}))
            .await;
        created.push(c["id"].as_str().unwrap().to_owned());
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/connectors?limit=3&cursor={c}"),
            None => "/api/v1/connectors?limit=3".to_owned(),
        };
        let page =
            expect_json(app.request(Method::GET, &path, Some(&t.key)).send().await.unwrap(), 200).await;
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 3);
        seen.extend(items.iter().map(|c| c["id"].as_str().unwrap().to_owned()));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    let expected: Vec<String> = created.iter().rev().cloned().collect();
    assert_eq!(seen, expected, "every connector once, newest first");

    let bobs = expect_json(
        app.request(Method::GET, "/api/v1/connectors?owner=bob", Some(&t.key)).send().await.unwrap(),
        200,
    )
    .await;
    let bob_ids: HashSet<&str> =
        bobs["items"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(bob_ids, created.iter().skip(1).step_by(2).map(String::as_str).collect());

    let query = "/api/v1/connectors?status=created&limit=200";
    let by_status =
        expect_json(app.request(Method::GET, query, Some(&t.key)).send().await.unwrap(), 200).await;
    assert_eq!(by_status["items"].as_array().unwrap().len(), 7);
    let none = expect_json(
        app.request(Method::GET, "/api/v1/connectors?status=connected", Some(&t.key)).send().await.unwrap(),
        200,
    )
    .await;
    assert_eq!(none["items"], json!([]));
    assert_eq!(none["next_cursor"], Value::Null);
}

#[sqlx::test]
async fn patch_replaces_static_credentials_only(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let t = app.tenant("a").await;
    let bearer = app
        .create_connector(
            &t.key,
            json!({"url": "https://a.example.com", "auth": {"mode": "bearer", "token": "old"}}),
        )
        .await;
    let path = format!("/api/v1/connectors/{}", bearer["id"].as_str().unwrap());
    let res = app
        .request(Method::PATCH, &path, Some(&t.key))
        .json(&json!({"auth": {"mode": "basic", "username": "svc", "password": "new-pass"}}))
        .send()
        .await
        .unwrap();
    let patched = expect_json(res, 200).await;
    assert_eq!(patched["auth"], json!({"mode": "basic", "username": "svc", "has_password": true}));
    assert!(patched["updated_at"].as_str() > bearer["updated_at"].as_str());

    let res = app
        .request(Method::PATCH, &path, Some(&t.key))
        .json(&json!({"auth": {"mode": "oauth2_authorization_code"}}))
        .send()
        .await
        .unwrap();
    let problem = expect_problem(res, 400, "validation_failed").await;
    assert_eq!(fields(&problem), ["auth.mode"]);

    let oauth = app
        .create_connector(
            &t.key,
            json!({"url": "https://b.example.com", "auth": {"mode": "oauth2_authorization_code"}}),
        )
        .await;
    let path = format!("/api/v1/connectors/{}", oauth["id"].as_str().unwrap());
    let res = app
        .request(Method::PATCH, &path, Some(&t.key))
        .json(&json!({"auth": {"mode": "bearer", "token": "t"}}))
        .send()
        .await
        .unwrap();
    expect_problem(res, 409, "auth_not_replaceable").await;
    let unchanged =
        expect_json(app.request(Method::GET, &path, Some(&t.key)).send().await.unwrap(), 200).await;
    assert_eq!(unchanged["auth"]["mode"], "oauth2_authorization_code");

    for body in [json!({"url": "https://c.example.com"}), json!({"name": ""}), json!({"status": "connected"})]
    {
        let res = app.request(Method::PATCH, &path, Some(&t.key)).json(&body).send().await.unwrap();
        assert_eq!(res.status(), 400, "{body}");
    }
}
