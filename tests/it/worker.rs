//! The background worker against a real authorization server: authorization windows,
//! refresh before expiry, single flight across replicas, failures, keep-alive.

use std::sync::Arc;
use std::time::Duration;

use secrecy::{ExposeSecret as _, SecretString};
use serde_json::{Value, json};
use sqlx::PgPool;
use switchboard::connectors::refresh::{RefreshOutcome, Trigger, refresh};
use switchboard::connectors::{SecretField, service};
use switchboard::http::AppState;
use switchboard::worker::tick;
use uuid::Uuid;

use crate::support::auth_server::{AsConfig, AuthServer};
use crate::support::mcp_server::{Guard, McpServer};
use crate::support::{TestApp, TestTenant, authorize_in_browser, connected_oauth_connector, expect_json};

struct Setup {
    app: TestApp,
    t: TestTenant,
    auth_server: AuthServer,
    upstream: McpServer,
}

async fn setup(
    db: PgPool,
    config: AsConfig,
    settings: impl FnOnce(&mut switchboard::config::Settings),
) -> Setup {
    let app = TestApp::spawn_public(db, settings).await;
    let t = app.tenant("a").await;
    let auth_server = AuthServer::spawn(config).await;
    let upstream = McpServer::spawn(Guard::OAuth { server: auth_server.clone(), scope: None }).await;
    Setup { app, t, auth_server, upstream }
}

impl Setup {
    async fn connector(&self, id: &str) -> Value {
        self.app.get_json(&format!("/api/v1/connectors/{id}"), &self.t.key).await
    }

    async fn access_token(&self, id: &str) -> Option<SecretString> {
        let c = service::get(&self.app.state.db, self.t.id, id.parse().unwrap()).await.unwrap();
        service::open_secret(&self.app.state.db, &self.app.state.keyring, &c, SecretField::AccessToken)
            .await
            .unwrap()
    }

    async fn force_due(&self) {
        sqlx::query("UPDATE connectors SET next_refresh_at = now() WHERE oauth_grant IS NOT NULL")
            .execute(&self.app.state.db)
            .await
            .unwrap();
    }

    fn refreshes_seen(&self) -> usize {
        self.auth_server.state.lock().unwrap().token_requests_of("refresh_token").len()
    }
}

#[sqlx::test]
async fn pending_authorizations_expire_and_late_callbacks_change_nothing(db: PgPool) {
    // Long enough that a loaded machine still runs the first pass inside the window.
    let s = setup(db, AsConfig::default(), |st| st.authorization_ttl = Duration::from_millis(1500)).await;
    let c = s
        .app
        .create_connector(
            &s.t.key,
            json!({"url": s.upstream.url, "auth": {"mode": "oauth2_authorization_code"}}),
        )
        .await;
    let id = c["id"].as_str().unwrap();
    let res = s.app.post_json(&format!("/api/v1/connectors/{id}/connect"), &s.t.key, json!({})).await;
    let url = expect_json(res, 200).await["authorization_url"].as_str().unwrap().to_owned();

    assert_eq!(
        tick(&crate::support::worker(&s.app.state)).await.unwrap().expired_authorizations,
        0,
        "not yet"
    );
    tokio::time::sleep(Duration::from_millis(1600)).await;
    assert_eq!(tick(&crate::support::worker(&s.app.state)).await.unwrap().expired_authorizations, 1);
    let c = s.connector(id).await;
    assert_eq!(c["status"], "disconnected");
    assert_eq!(c["disconnect_reason"]["code"], "authorization_expired");
    assert_eq!(
        c["disconnect_reason"]["message"],
        "authorization was not completed within 1s 500ms; connect again"
    );
    let states: i64 =
        sqlx::query_scalar("SELECT count(*) FROM oauth_states").fetch_one(&s.app.state.db).await.unwrap();
    assert_eq!(states, 0);

    let late = authorize_in_browser(&url).await;
    assert_eq!(late.status(), 400);
    assert!(late.text().await.unwrap().contains("unknown, already used or expired"));
    assert!(s.auth_server.state.lock().unwrap().token_requests.is_empty());
    assert_eq!(s.connector(id).await["disconnect_reason"]["code"], "authorization_expired");

    let events = s.app.get_json(&format!("/api/v1/connectors/{id}/events"), &s.t.key).await;
    let to: Vec<&str> =
        events["items"].as_array().unwrap().iter().map(|e| e["to_status"].as_str().unwrap()).collect();
    assert_eq!(to, ["disconnected", "pending_authorization", "created"], "newest first");
    assert_eq!(events["items"][0]["from_status"], "pending_authorization");
    assert_eq!(events["items"][0]["code"], "authorization_expired");
    let page = s.app.get_json(&format!("/api/v1/connectors/{id}/events?limit=2"), &s.t.key).await;
    let next = page["next_cursor"].as_str().unwrap();
    let rest =
        s.app.get_json(&format!("/api/v1/connectors/{id}/events?limit=2&cursor={next}"), &s.t.key).await;
    assert_eq!(rest["items"][0]["to_status"], "created");
    for bad in ["cursor=garbage", "limit=0"] {
        let res = s
            .app
            .request(reqwest::Method::GET, &format!("/api/v1/connectors/{id}/events?{bad}"), Some(&s.t.key))
            .send()
            .await
            .unwrap();
        crate::support::expect_problem(res, 400, "validation_failed").await;
    }
}

#[sqlx::test]
async fn tokens_are_refreshed_before_they_expire_and_rotation_is_followed(db: PgPool) {
    let s = setup(db, AsConfig::default(), |_| {}).await;
    let id = connected_oauth_connector(&s.app, &s.t.key, &s.upstream.url).await;
    let before = s.connector(&id).await;
    let old_token = s.access_token(&id).await.unwrap();
    assert_eq!(tick(&crate::support::worker(&s.app.state)).await.unwrap().claimed, 0, "nothing is due yet");

    for round in 1..=2 {
        s.force_due().await;
        let report = tick(&crate::support::worker(&s.app.state)).await.unwrap();
        assert_eq!((report.claimed, report.refreshed), (1, 1), "round {round}: {report:?}");
        assert_eq!(s.refreshes_seen(), round, "exactly one refresh per round");
    }
    let (revoked_grants, refresh) = {
        let state = s.auth_server.state.lock().unwrap();
        (state.revoked_grants, state.token_requests_of("refresh_token")[0].clone())
    };
    assert_eq!(revoked_grants, 0, "the rotated refresh token was used, never the old one");
    assert_eq!(refresh["resource"], s.upstream.url);

    let after = s.connector(&id).await;
    assert_eq!(after["status"], "connected");
    assert!(after["token_expires_at"].as_str() > before["token_expires_at"].as_str(), "expiry moved");
    assert_eq!(after["refresh"]["attempts"], 0);
    assert!(after["refresh"]["last_refreshed_at"].as_str() > before["refresh"]["last_refreshed_at"].as_str());
    let new_token = s.access_token(&id).await.unwrap();
    assert_ne!(new_token.expose_secret(), old_token.expose_secret());
    assert!(s.auth_server.accepts(new_token.expose_secret(), &s.upstream.url));
    assert_eq!(
        tick(&crate::support::worker(&s.app.state)).await.unwrap().claimed,
        0,
        "next refresh is in the future"
    );
}

#[sqlx::test]
async fn replicas_and_on_demand_callers_refresh_each_connector_once(db: PgPool) {
    let s = setup(db, AsConfig::default(), |_| {}).await;
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(connected_oauth_connector(&s.app, &s.t.key, &s.upstream.url).await);
    }
    let mut old_tokens = Vec::new();
    for id in &ids {
        old_tokens.push(s.access_token(id).await.unwrap());
    }
    s.force_due().await;

    // A second replica: same database and keys, its own in-process locks.
    let replica_a = s.app.state.clone();
    let replica_b = AppState { refresh_locks: Arc::default(), ..s.app.state.clone() };
    let mut tasks = tokio::task::JoinSet::new();
    for replica in [replica_a.clone(), replica_b.clone()] {
        tasks.spawn(async move { tick(&crate::support::worker(&replica)).await.map(|_| ()) });
    }
    for (i, id) in ids.iter().enumerate() {
        for replica in [&replica_a, &replica_b, &replica_b] {
            let (replica, token, tenant, id) =
                (replica.clone(), old_tokens[i].clone(), s.t.id, id.parse::<Uuid>().unwrap());
            tasks.spawn(async move {
                refresh(&replica.connectors(), tenant, id, Trigger::Rejected(&token)).await.map(|_| ())
            });
        }
    }
    while let Some(result) = tasks.join_next().await {
        result.unwrap().unwrap();
    }

    assert_eq!(s.refreshes_seen(), ids.len(), "exactly one refresh per connector");
    assert_eq!(s.auth_server.state.lock().unwrap().revoked_grants, 0, "no grant was revoked");
    for id in &ids {
        assert_eq!(s.connector(id).await["status"], "connected");
        let token = s.access_token(id).await.unwrap();
        assert!(s.auth_server.accepts(token.expose_secret(), &s.upstream.url));
    }
}

#[sqlx::test]
async fn invalid_grant_disconnects_with_the_reason(db: PgPool) {
    let s = setup(db, AsConfig::default(), |_| {}).await;
    let id = connected_oauth_connector(&s.app, &s.t.key, &s.upstream.url).await;
    s.auth_server.revoke_refresh_tokens();
    s.force_due().await;
    assert_eq!(tick(&crate::support::worker(&s.app.state)).await.unwrap().disconnected, 1);
    let c = s.connector(&id).await;
    assert_eq!(c["status"], "disconnected");
    assert_eq!(c["disconnect_reason"]["code"], "refresh_failed");
    assert!(c["disconnect_reason"]["message"].as_str().unwrap().contains("invalid_grant"), "{c}");
    assert_eq!(c["auth"]["has_token"], false, "tokens erased");
    assert!(s.access_token(&id).await.is_none());
    let events = s.app.get_json(&format!("/api/v1/connectors/{id}/events"), &s.t.key).await;
    assert_eq!(events["items"][0]["code"], "refresh_failed");
}

#[sqlx::test]
async fn outages_keep_tokens_back_off_and_recover(db: PgPool) {
    let s = setup(db, AsConfig::default(), |_| {}).await;
    let id = connected_oauth_connector(&s.app, &s.t.key, &s.upstream.url).await;
    let token = s.access_token(&id).await.unwrap();
    s.auth_server.set_down(true);
    s.force_due().await;
    let report = tick(&crate::support::worker(&s.app.state)).await.unwrap();
    assert_eq!(report.retrying, 1, "{report:?}");
    let c = s.connector(&id).await;
    assert_eq!(c["status"], "connected");
    assert_eq!(c["health"], "ok", "the token is still valid");
    assert_eq!(c["refresh"]["attempts"], 1);
    assert!(c["refresh"]["last_refresh_error"].as_str().unwrap().contains("503"), "{c}");
    let next =
        chrono::DateTime::parse_from_rfc3339(c["refresh"]["next_refresh_at"].as_str().unwrap()).unwrap();
    assert!(next > chrono::Utc::now() + chrono::Duration::seconds(3), "backed off");
    assert_eq!(s.access_token(&id).await.unwrap().expose_secret(), token.expose_secret(), "tokens kept");

    // Once the access token has expired and retries keep failing: degraded, still connected.
    sqlx::query("UPDATE connectors SET token_expires_at = now() - interval '1 second'")
        .execute(&s.app.state.db)
        .await
        .unwrap();
    s.force_due().await;
    assert_eq!(tick(&crate::support::worker(&s.app.state)).await.unwrap().retrying, 1);
    let c = s.connector(&id).await;
    assert_eq!((c["status"].as_str(), c["health"].as_str()), (Some("connected"), Some("degraded")));
    assert_eq!(c["refresh"]["attempts"], 2);

    s.auth_server.set_down(false);
    s.force_due().await;
    assert_eq!(tick(&crate::support::worker(&s.app.state)).await.unwrap().refreshed, 1);
    let c = s.connector(&id).await;
    assert_eq!((c["health"].as_str(), c["refresh"]["attempts"].as_i64()), (Some("ok"), Some(0)));
    assert_eq!(c["refresh"]["last_refresh_error"], Value::Null);
}

#[sqlx::test]
async fn keepalive_refreshes_idle_grants(db: PgPool) {
    let s = setup(db, AsConfig::default(), |st| st.refresh.keepalive = Some(Duration::from_secs(1))).await;
    let id = connected_oauth_connector(&s.app, &s.t.key, &s.upstream.url).await;
    let c = s.connector(&id).await;
    let next =
        chrono::DateTime::parse_from_rfc3339(c["refresh"]["next_refresh_at"].as_str().unwrap()).unwrap();
    let expiry = chrono::DateTime::parse_from_rfc3339(c["token_expires_at"].as_str().unwrap()).unwrap();
    assert!(next < expiry - chrono::Duration::minutes(30), "keep-alive comes long before expiry");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(tick(&crate::support::worker(&s.app.state)).await.unwrap().refreshed, 1);
    assert_eq!(s.refreshes_seen(), 1);
}

#[sqlx::test]
async fn client_credentials_connectors_get_a_new_token(db: PgPool) {
    let s = setup(db, AsConfig::default(), |_| {}).await;
    s.auth_server.preregister("machine", Some("s3cret"), "client_secret_basic", "http://unused");
    let c = s
        .app
        .create_connector(&s.t.key, json!({"url": s.upstream.url, "auth": {"mode": "oauth2_client_credentials", "client_id": "machine", "client_secret": "s3cret"}}))
        .await;
    let id = c["id"].as_str().unwrap();
    let res = s.app.post_json(&format!("/api/v1/connectors/{id}/connect"), &s.t.key, json!({})).await;
    assert_eq!(expect_json(res, 200).await["status"], "connected");
    s.force_due().await;
    assert_eq!(tick(&crate::support::worker(&s.app.state)).await.unwrap().refreshed, 1);
    let grants = s.auth_server.state.lock().unwrap().token_requests_of("client_credentials").len();
    assert_eq!(grants, 2);
    let outcome =
        refresh(&s.app.state.connectors(), s.t.id, id.parse().unwrap(), Trigger::Due).await.unwrap();
    assert_eq!(outcome, RefreshOutcome::NotNeeded);
}

#[sqlx::test]
async fn a_worker_shutting_down_starts_no_refresh_and_releases_its_claims(db: PgPool) {
    let s = setup(db, AsConfig::default(), |_| {}).await;
    let id: Uuid = connected_oauth_connector(&s.app, &s.t.key, &s.upstream.url).await.parse().unwrap();
    s.force_due().await;
    s.app.state.shutdown.begin_draining();
    let report = tick(&crate::support::worker(&s.app.state)).await.unwrap();
    assert_eq!((report.claimed, report.refreshed), (1, 0), "{report:?}");
    assert_eq!(s.refreshes_seen(), 0);
    let lease: Option<chrono::DateTime<chrono::Utc>> =
        sqlx::query_scalar("SELECT refresh_lease_until FROM connectors WHERE id = $1")
            .bind(id)
            .fetch_one(&s.app.state.db)
            .await
            .unwrap();
    assert_eq!(lease, None, "the claim is released for another replica at once");
}
