//! The served OpenAPI document is honest: a real validator accepts it (every `$ref` resolves),
//! every route the router serves is in it, problems are `application/problem+json`, and the
//! validation rules the server enforces are in the schemas. The reference page renders in a
//! real browser without the internet, and schemathesis, fuzzing the live server from the
//! document, finds no 5xx and no answer that contradicts it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use reqwest::Method;
use serde_json::Value;
use sqlx::PgPool;

use crate::support::binary::Switchboard;
use crate::support::node::required;
use crate::support::{ADMIN_TOKEN, TestApp, expect_json};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

async fn document(app: &TestApp) -> Value {
    expect_json(app.request(Method::GET, "/api/v1/openapi.json", None).send().await.unwrap(), 200).await
}

/// Every `(METHOD, path)` the router serves, read from the `.route(...)` calls of src/http:
/// the modules nested under `/api/v1` in `api::router` get that prefix.
fn served_routes() -> BTreeSet<(String, String)> {
    const NESTED: &str = "/api/v1";
    let files = [
        ("api/connectors.rs", NESTED),
        ("api/tools.rs", NESTED),
        ("api/descriptors.rs", NESTED),
        ("api/gateways.rs", NESTED),
        ("api/gateway_oauth.rs", NESTED),
        ("api/oauth.rs", NESTED),
        ("api/api_keys.rs", NESTED),
        ("api/admin.rs", NESTED),
        ("proxy/mod.rs", NESTED),
        ("mcp_server/mod.rs", NESTED),
        ("api/health.rs", ""),
        ("api/docs.rs", ""),
        ("metrics.rs", ""),
    ];
    let mut routes = BTreeSet::new();
    for (file, prefix) in files {
        let source = std::fs::read_to_string(root().join("src/http").join(file)).unwrap();
        for call in source.split(".route(\"").skip(1) {
            let (path, rest) = call.split_once('"').unwrap();
            let end =
                [rest.find(".route("), rest.find("))\n")].into_iter().flatten().min().unwrap_or(rest.len());
            let handlers = &rest[..end];
            for method in ["get", "post", "patch", "put", "delete"] {
                let called = handlers.starts_with(&format!(", {method}("))
                    || handlers.contains(&format!(".{method}("));
                if called {
                    routes.insert((method.to_uppercase(), format!("{prefix}{path}")));
                }
            }
        }
    }
    routes
}

#[sqlx::test]
async fn the_document_validates_and_lists_every_route(db: PgPool) {
    let Some(python) = crate::support::node::interop_python() else { return };
    let app = TestApp::spawn(db).await;
    let doc = document(&app).await;
    let file = std::env::temp_dir().join(format!("switchboard-openapi-{}.json", uuid::Uuid::new_v4()));
    std::fs::write(&file, doc.to_string()).unwrap();
    let out = Command::new(python).arg(root().join("interop/openapi_check.py")).arg(&file).output().unwrap();
    let _ = std::fs::remove_file(&file);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "openapi-spec-validator rejects the document: {}{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    let documented: BTreeSet<(String, String)> =
        stdout.lines().filter_map(|l| l.split_once(' ')).map(|(m, p)| (m.to_owned(), p.to_owned())).collect();
    let served = served_routes();
    assert!(served.len() > 30, "the route scan found the router's routes: {served:?}");
    let missing: Vec<_> = served.difference(&documented).collect();
    assert!(missing.is_empty(), "served but not documented: {missing:?}");
    let stale: Vec<_> = documented.difference(&served).collect();
    assert!(stale.is_empty(), "documented but not served: {stale:?}");
}

#[sqlx::test]
async fn problems_statuses_and_validation_rules_are_documented(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let doc = document(&app).await;
    let mut problem_json = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            for (status, response) in op["responses"].as_object().unwrap() {
                let content = response["content"].as_object();
                let plain_problem = content
                    .and_then(|c| c.get("application/json"))
                    .is_some_and(|c| c["schema"]["$ref"] == "#/components/schemas/Problem");
                assert!(!plain_problem, "{method} {path} {status}: a problem documented as application/json");
                problem_json +=
                    usize::from(content.is_some_and(|c| c.contains_key("application/problem+json")));
            }
        }
    }
    assert!(problem_json > 100, "{problem_json}");
    let responses = |path: &str, method: &str| -> BTreeSet<String> {
        doc["paths"][path][method]["responses"].as_object().unwrap().keys().cloned().collect()
    };
    let expect = |path: &str, method: &str, statuses: &[&str]| {
        let got = responses(path, method);
        for status in statuses {
            assert!(got.contains(*status), "{method} {path} does not document {status}: {got:?}");
        }
    };
    expect("/api/v1/connectors", "post", &["201", "400", "401", "403", "408", "413", "415", "429", "503"]);
    expect(
        "/api/v1/connectors/{id}",
        "patch",
        &["200", "400", "401", "403", "404", "409", "413", "415", "429", "503"],
    );
    expect("/api/v1/connectors/{id}/connect", "post", &["401", "404", "409", "422", "429", "503"]);
    expect("/api/v1/connectors/{id}/tool-calls", "get", &["200", "400", "401", "403", "404", "429", "503"]);
    expect("/api/v1/admin/tenants", "post", &["201", "400", "401", "413", "415", "503"]);
    expect(
        "/api/v1/connectors/{id}/mcp",
        "post",
        &["200", "202", "401", "403", "404", "409", "429", "502", "503"],
    );
    expect("/readyz", "get", &["200", "503"]);
    assert!(
        !responses("/api/v1/admin/tenants", "get").contains("429"),
        "operator endpoints are not rate limited"
    );
    assert!(!responses("/healthz", "get").contains("503"), "/healthz needs no database");

    let schemas = &doc["components"]["schemas"];
    assert!(schemas["CallStatus"].is_object(), "every referenced schema exists");
    let url = &schemas["NewConnector"]["properties"]["url"];
    assert_eq!((url["minLength"].as_u64(), url["maxLength"].as_u64()), (Some(1), Some(2048)), "{url}");
    assert_eq!(schemas["CreateApiKey"]["properties"]["scopes"]["minItems"], 1);
    assert_eq!(schemas["CreateTenant"]["properties"]["name"]["maxLength"], 200);
    let metadata = &schemas["NewConnector"]["properties"]["metadata"];
    assert_eq!(metadata["maxProperties"], 16, "{metadata}");
    assert_eq!(metadata["propertyNames"]["maxLength"], 64, "{metadata}");
    assert_eq!(metadata["additionalProperties"]["maxLength"], 512, "{metadata}");
}

/// Chromium flags for a page test that reaches nothing but the server under test.
const CHROMIUM_FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
    "--virtual-time-budget=20000",
];

fn chromium(profile: &Path, args: &[&str]) -> std::process::Output {
    let binary = required(PathBuf::from("/usr/bin/chromium"), "install Debian's `chromium` (.ci/run does)")
        .expect("checked by the caller");
    Command::new(binary)
        .args(CHROMIUM_FLAGS)
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .output()
        .unwrap()
}

/// The DOM without `<script>` elements: what was rendered, not a document carried inline.
fn without_scripts(dom: &str) -> String {
    let mut out = String::new();
    let mut rest = dom;
    while let Some(start) = rest.find("<script") {
        out.push_str(&rest[..start]);
        rest = rest[start..].find("</script>").map_or("", |end| &rest[start + end + 9..]);
    }
    out.push_str(rest);
    out
}

#[sqlx::test]
async fn the_reference_page_renders_the_operations_offline_in_chromium(db: PgPool) {
    if required(PathBuf::from("/usr/bin/chromium"), "install Debian's `chromium` (.ci/run does)").is_none() {
        return;
    }
    let app = TestApp::spawn(db).await;
    let profile = std::env::temp_dir().join(format!("switchboard-chromium-{}", uuid::Uuid::new_v4()));
    let url = app.url("/api/v1/docs");
    let (p, u) = (profile.clone(), url.clone());
    let dom = tokio::task::spawn_blocking(move || chromium(&p, &["--dump-dom", &u])).await.unwrap();
    let dom = without_scripts(&String::from_utf8_lossy(&dom.stdout));
    for operation in
        ["Create a connector", "/api/v1/connectors/{id}/mcp", "List tenants, oldest first.", "/readyz"]
    {
        assert!(dom.contains(operation), "the rendered page shows {operation:?}; got {} bytes", dom.len());
    }
    // Nothing on the page comes from elsewhere (a CDN would leave it blank offline).
    let page = app.client.get(app.url("/api/v1/docs")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    for outside in ["src=\"http", "href=\"http", "src='http", "//cdn"] {
        assert!(!html.contains(outside), "the page loads {outside}…: {html}");
    }
    let shot = std::env::var("SWITCHBOARD_DOCS_SCREENSHOT")
        .map(PathBuf::from)
        .unwrap_or_else(|_| profile.join("docs.png"));
    let arg = format!("--screenshot={}", shot.display());
    let p = profile.clone();
    let out = tokio::task::spawn_blocking(move || chromium(&p, &[&arg, "--window-size=1280,2400", &url]))
        .await
        .unwrap();
    assert!(shot.exists(), "a screenshot was taken: {}", String::from_utf8_lossy(&out.stderr));
    let _ = std::fs::remove_dir_all(&profile);
}

/// Runs schemathesis against the server at `base` with `token`; returns what it printed.
async fn schemathesis(base: String, token: &str, exclude: &[&str], examples: u32) -> String {
    let mut command = Command::new(root().join("interop/.venv/bin/schemathesis"));
    command
        .arg("--config-file")
        .arg(root().join("interop/schemathesis.toml"))
        .arg("run")
        .arg(format!("{base}/api/v1/openapi.json"))
        .args(["--checks", "not_a_server_error,response_schema_conformance,content_type_conformance"])
        .args(["--phases", "examples,coverage,fuzzing"])
        // One worker: with two, hypothesis parses lambdas' source on two threads, and this
        // machine's CPython 3.11.7 keeps one AST-converter recursion counter per interpreter
        // that threaded programs can knock off (gh-106905): the run then dies of "AST
        // constructor recursion depth mismatch", a crash of the fuzzer, not a finding (seen in CI).
        .args(["--max-examples", &examples.to_string(), "--seed", "1717", "--workers", "1"])
        .args(["--request-timeout", "20", "--max-redirects", "0", "--no-shrink"])
        .args(["--header", &format!("Authorization: Bearer {token}")])
        .args(["--suppress-health-check", "all", "--warnings", "off"])
        .env("NO_COLOR", "1")
        .current_dir(std::env::temp_dir());
    for path in exclude {
        command.args(["--exclude-path", path]);
    }
    let out = tokio::task::spawn_blocking(move || command.output().unwrap()).await.unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "schemathesis found problems:\n{text}");
    text
}

/// The number schemathesis reports before `what` in its summary (e.g. "1234 generated").
fn count(summary: &str, what: &str) -> u64 {
    summary
        .lines()
        .filter_map(|line| {
            let at = line.find(what)?;
            line[..at].split_whitespace().last()?.replace(',', "").parse::<u64>().ok()
        })
        .sum()
}

#[sqlx::test]
async fn schemathesis_finds_no_server_error_and_no_answer_off_the_document(db: PgPool) {
    if crate::support::node::interop_python().is_none() {
        return;
    }
    // The real binary: fuzzed URLs must not reach this machine's services, and the fuzzer is
    // not throttled.
    let env = [
        ("SWITCHBOARD_ALLOW_PRIVATE_NETWORKS", "false"),
        ("SWITCHBOARD_RATE_LIMIT_API_RPS", "0"),
        ("SWITCHBOARD_RATE_LIMIT_PROXY_RPS", "0"),
        ("RUST_LOG", "warn"),
    ];
    let sb = Switchboard::start(&db, &env).await;
    let app = &sb.app;
    let t = app.tenant("fuzz").await;
    app.create_connector(&t.key, serde_json::json!({"url": "https://mcp.example.com/mcp"})).await;

    // The tenant key's own revocation is the one operation left out.
    let tenant = schemathesis(app.url(""), &t.key, &["/api/v1/api-keys/{id}"], 25).await;
    let operator = schemathesis(app.url(""), ADMIN_TOKEN, &[], 25).await;
    let cases = |s: &str| count(s, "generated");
    eprintln!("schemathesis, tenant key:\n{}", tenant.lines().rev().take(12).collect::<Vec<_>>().join("\n"));
    eprintln!(
        "schemathesis, operator token:\n{}",
        operator.lines().rev().take(12).collect::<Vec<_>>().join("\n")
    );
    eprintln!("schemathesis cases: tenant key {}, operator token {}", cases(&tenant), cases(&operator));
    assert!(cases(&tenant) + cases(&operator) >= 1000, "at least 1,000 cases in all");
}
