//! Sealed secrets: absent from every response, unreadable in the database, bound to their
//! row, and rotatable.

use reqwest::Method;
use secrecy::ExposeSecret as _;
use serde_json::json;
use sqlx::PgPool;
use switchboard::connectors::{Connector, Presets, SecretField, service};
use switchboard::http::AppState;
use switchboard::platform::crypto::Keyring;
use uuid::Uuid;

use crate::support::{TestApp, TestTenant, test_settings};

const SECRETS: [&str; 4] =
    ["bearer-secret-XYZ", "basic-secret-XYZ", "header-secret-XYZ", "client-secret-XYZ"];

async fn create_all_kinds(app: &TestApp, t: &TestTenant) -> Vec<String> {
    let auths = [
        json!({"mode": "bearer", "token": SECRETS[0]}),
        json!({"mode": "basic", "username": "u", "password": SECRETS[1]}),
        json!({"mode": "header", "header_name": "X-Key", "value": SECRETS[2]}),
        json!({"mode": "oauth2_client_credentials", "client_id": "c", "client_secret": SECRETS[3]}),
    ];
    let mut ids = Vec::new();
    for auth in auths {
        let res = app
            .request(Method::POST, "/api/v1/connectors", Some(&t.key))
            .json(&json!({"url": "https://s.example.com", "auth": auth, "discover": false}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
        let text = res.text().await.unwrap();
        assert_no_secret(&text);
        ids.push(
            serde_json::from_str::<serde_json::Value>(&text).unwrap()["id"].as_str().unwrap().to_owned(),
        );
    }
    ids
}

fn assert_no_secret(raw: &str) {
    for secret in SECRETS {
        assert!(!raw.contains(secret), "secret {secret} leaked in: {raw}");
    }
}

async fn connector(app: &TestApp, tenant: Uuid, id: &str) -> Connector {
    service::get(&app.state.db, tenant, id.parse().unwrap()).await.unwrap()
}

#[sqlx::test]
async fn secrets_never_appear_in_responses_or_in_clear_at_rest(db: PgPool) {
    let app = TestApp::spawn(db.clone()).await;
    let t = app.tenant("a").await;
    let ids = create_all_kinds(&app, &t).await;
    let mut raw = app
        .request(Method::GET, "/api/v1/connectors", Some(&t.key))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for id in &ids {
        let path = format!("/api/v1/connectors/{id}");
        raw += &app.request(Method::GET, &path, Some(&t.key)).send().await.unwrap().text().await.unwrap();
        raw += &app
            .request(Method::PATCH, &path, Some(&t.key))
            .json(&json!({"name": "n"}))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
    }
    assert_no_secret(&raw);

    let stored: Vec<(String, Vec<u8>)> =
        sqlx::query_as("SELECT key_id, ciphertext FROM connector_secrets").fetch_all(&db).await.unwrap();
    assert_eq!(stored.len(), 4);
    for (key_id, ciphertext) in &stored {
        assert_eq!(key_id, "test");
        assert_no_secret(&String::from_utf8_lossy(ciphertext));
    }
    let dump: String =
        sqlx::query_scalar("SELECT string_agg(c::text, ' ') FROM connectors c").fetch_one(&db).await.unwrap();
    assert_no_secret(&dump);

    // And they do open, for the service that needs them.
    let c = connector(&app, t.id, &ids[0]).await;
    let token =
        service::open_secret(&db, &app.state.keyring, &c, SecretField::Credential).await.unwrap().unwrap();
    assert_eq!(token.expose_secret(), SECRETS[0]);
}

#[sqlx::test]
async fn a_sealed_value_copied_to_another_row_does_not_open(db: PgPool) {
    let app = TestApp::spawn(db.clone()).await;
    let t = app.tenant("a").await;
    let ids = create_all_kinds(&app, &t).await;
    let (from, to): (Uuid, Uuid) = (ids[0].parse().unwrap(), ids[1].parse().unwrap());
    // Copy connector 0's sealed bearer token over connector 1's credential.
    sqlx::query(
        "UPDATE connector_secrets SET ciphertext = (SELECT ciphertext FROM connector_secrets WHERE connector_id = $1)
         WHERE connector_id = $2 AND field = 'credential'",
    )
    .bind(from)
    .bind(to)
    .execute(&db)
    .await
    .unwrap();
    let target = connector(&app, t.id, &ids[1]).await;
    assert!(service::open_secret(&db, &app.state.keyring, &target, SecretField::Credential).await.is_err());

    // The same ciphertext under another field name of the same row fails too.
    let oauth: Uuid = ids[3].parse().unwrap();
    sqlx::query(
        "INSERT INTO connector_secrets (connector_id, tenant_id, field, key_id, ciphertext)
         SELECT connector_id, tenant_id, 'credential', key_id, ciphertext FROM connector_secrets WHERE connector_id = $1",
    )
    .bind(oauth)
    .execute(&db)
    .await
    .unwrap();
    let c = connector(&app, t.id, &ids[3]).await;
    assert!(service::open_secret(&db, &app.state.keyring, &c, SecretField::Credential).await.is_err());
    assert!(service::open_secret(&db, &app.state.keyring, &c, SecretField::ClientSecret).await.is_ok());
}

#[sqlx::test]
async fn keys_rotate_and_reencrypt(db: PgPool) {
    let k1 = Keyring::generate_entry("k1");
    let k2 = Keyring::generate_entry("k2");
    let ring = |spec: &str| Keyring::parse(spec).unwrap();
    let app =
        TestApp::spawn_with(AppState::new(db.clone(), ring(&k1), Presets::builtin(), test_settings())).await;
    let t = app.tenant("a").await;
    let ids = create_all_kinds(&app, &t).await;
    let c = connector(&app, t.id, &ids[2]).await;

    // Rotate: k2 seals, k1 still opens.
    let rotated = ring(&format!("{k2},{k1}"));
    let opened = service::open_secret(&db, &rotated, &c, SecretField::Credential).await.unwrap().unwrap();
    assert_eq!(opened.expose_secret(), SECRETS[2]);

    assert_eq!(switchboard::connectors::rekey::reencrypt_all(&db, &rotated).await.unwrap(), 4);
    let key_ids: Vec<String> =
        sqlx::query_scalar("SELECT DISTINCT key_id FROM connector_secrets").fetch_all(&db).await.unwrap();
    assert_eq!(key_ids, ["k2"]);
    assert_eq!(
        switchboard::connectors::rekey::reencrypt_all(&db, &rotated).await.unwrap(),
        0,
        "nothing left to do"
    );

    // Drop k1: everything still opens.
    let only_k2 = ring(&k2);
    for (id, field, expected) in
        [(&ids[0], SecretField::Credential, SECRETS[0]), (&ids[3], SecretField::ClientSecret, SECRETS[3])]
    {
        let c = connector(&app, t.id, id).await;
        let opened = service::open_secret(&db, &only_k2, &c, field).await.unwrap().unwrap();
        assert_eq!(opened.expose_secret(), expected);
    }
    // Without the key that sealed them, values do not open.
    assert!(service::open_secret(&db, &ring(&k1), &c, SecretField::Credential).await.is_err());
}

#[sqlx::test]
async fn rotation_covers_registered_clients_and_pending_authorizations(db: PgPool) {
    use crate::support::auth_server::{AsConfig, AuthServer};
    use crate::support::mcp_server::{Guard, McpServer};

    let k1 = Keyring::generate_entry("k1");
    let k2 = Keyring::generate_entry("k2");
    let ring = |spec: &str| Keyring::parse(spec).unwrap();
    let old =
        TestApp::spawn_with(AppState::new(db.clone(), ring(&k1), Presets::builtin(), test_settings())).await;
    let t = old.tenant("a").await;
    let auth_server = AuthServer::spawn(AsConfig::default()).await;
    let upstream = McpServer::spawn(Guard::OAuth { server: auth_server.clone(), scope: None }).await;
    let c = old
        .create_connector(&t.key, json!({"url": upstream.url, "auth": {"mode": "oauth2_authorization_code"}}))
        .await;
    let res = old
        .post_json(&format!("/api/v1/connectors/{}/connect", c["id"].as_str().unwrap()), &t.key, json!({}))
        .await;
    let authorization_url =
        crate::support::expect_json(res, 200).await["authorization_url"].as_str().unwrap().to_owned();

    // The DCR client secret and the PKCE verifier were sealed under k1; re-seal under k2.
    assert_eq!(
        switchboard::connectors::rekey::reencrypt_all(&db, &ring(&format!("{k2},{k1}"))).await.unwrap(),
        2
    );

    // A replica that only knows k2 completes the authorization (same database, same callback path).
    let new = TestApp::spawn_with(AppState::new(db, ring(&k2), Presets::builtin(), test_settings())).await;
    let browser = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let at_as = browser.get(&authorization_url).send().await.unwrap();
    let mut callback = url::Url::parse(at_as.headers()["location"].to_str().unwrap()).unwrap();
    callback.set_port(Some(new.addr.port())).unwrap();
    let page = browser.get(callback).send().await.unwrap();
    assert_eq!(page.status(), 200, "{:?}", page.text().await);
    let connector = new.get_json(&format!("/api/v1/connectors/{}", c["id"].as_str().unwrap()), &t.key).await;
    assert_eq!(connector["status"], "connected");
}
