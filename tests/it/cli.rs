//! The `switchboard` binary: tenant and key commands, and start-up failure messages.

use std::process::Command;

use reqwest::Method;
use serde_json::Value;
use sqlx::PgPool;

use crate::support::{TestApp, database_url, expect_problem};

fn switchboard(db_url: &str, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(args)
        .env("DATABASE_URL", db_url)
        .env("SWITCHBOARD_ENCRYPTION_KEYS", switchboard::platform::crypto::Keyring::generate_entry("cli"))
        .env("RUST_LOG", "warn")
        .output()
        .expect("the switchboard binary runs")
}

#[sqlx::test]
async fn cli_creates_tenants_and_keys_that_work_over_http(db: PgPool) {
    let url = database_url(&db);
    let out = switchboard(&url, &["tenants", "create", "Acme", "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let created: Value = serde_json::from_slice(&out.stdout).unwrap();
    let tenant_id = created["tenant_id"].as_str().unwrap().to_owned();
    let key = created["api_key"].as_str().unwrap().to_owned();

    let app = TestApp::spawn(db).await;
    let res = app.request(Method::GET, "/api/v1/connectors", Some(&key)).send().await.unwrap();
    assert_eq!(res.status(), 200);

    let out = switchboard(
        &url,
        &["api-keys", "create", "--tenant", &tenant_id, "--scopes", "read,proxy", "--json"],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let issued: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(issued["scopes"], serde_json::json!(["read", "proxy"]));
    let read_key = issued["api_key"].as_str().unwrap();
    let res = app.request(Method::GET, "/api/v1/connectors", Some(read_key)).send().await.unwrap();
    assert_eq!(res.status(), 200);

    let out = switchboard(&url, &["api-keys", "revoke", issued["id"].as_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // Another process's change reaches the server's key cache by NOTIFY, a moment later.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let res = loop {
        let res = app.request(Method::GET, "/api/v1/connectors", Some(read_key)).send().await.unwrap();
        if res.status() != 200 || std::time::Instant::now() > deadline {
            break res;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    expect_problem(res, 401, "unauthorized").await;

    let out = switchboard(&url, &["api-keys", "create", "--tenant", &tenant_id, "--scopes", "root"]);
    assert!(!out.status.success());
    let out = switchboard(&url, &["api-keys", "revoke", &uuid::Uuid::now_v7().to_string()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not found"));
}

#[test]
fn unreachable_postgres_is_one_clear_line() {
    let out = switchboard("postgres://postgres@127.0.0.1:1/switchboard", &["serve"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(lines[0].contains("start PostgreSQL or set DATABASE_URL"), "{stderr}");
    assert!(!stderr.contains("panicked") && !stderr.contains("backtrace"), "{stderr}");
}

#[test]
fn passwords_in_database_urls_are_not_printed() {
    let out = switchboard("postgres://postgres:hunter2@127.0.0.1:1/switchboard", &["serve"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("hunter2"), "{stderr}");
}

#[test]
fn generate_key_prints_a_usable_keyring_entry() {
    let out = switchboard("postgres://unused", &["encryption", "generate-key", "--id", "prod-2026"]);
    assert!(out.status.success());
    let entry = String::from_utf8(out.stdout).unwrap();
    let ring = switchboard::platform::crypto::Keyring::parse(entry.trim()).unwrap();
    assert_eq!(ring.current_key_id(), "prod-2026");
}
