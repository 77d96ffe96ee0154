//! Instructions per proxied call, counted by callgrind: switchboard runs under `valgrind
//! --tool=callgrind`; after a warm-up the counters are zeroed (`callgrind_control -z`), the
//! calls made, and the counters dumped (`callgrind_control -d`). Unlike wall-clock time,
//! the count hardly moves when other work shares the machine, so it measures a change.
//! The dumps stay in the temp directory for `callgrind_annotate`.

use std::process::Command;

use crate::load::{Endpoint, fail, load, sessions};
use crate::{Setup, env_usize, log_filter};

pub async fn run(setup: &Setup) {
    let dir = std::env::temp_dir().join(format!("switchboard-callgrind-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = format!("--callgrind-out-file={}/callgrind.out", dir.display());
    let log = log_filter();
    let wrap = ["valgrind", "--tool=callgrind", "--vgdb=yes", out.as_str()];
    let (proxy, key, url) = setup.switchboard(&log, &wrap).await;
    let pid = proxy.child.id().to_string();
    let endpoint = Endpoint { label: "Switchboard", url, key, tool: "echo" };
    let calls = env_usize("BENCH_REQUESTS", 1000);
    for concurrency in [1, 32] {
        let clients = sessions(&endpoint, concurrency).await;
        load(&clients, endpoint.tool, 200).await.unwrap_or_else(|e| fail(endpoint.label, &e));
        control(&["-z", &pid]);
        let seen = setup.upstream.seen().len();
        load(&clients, endpoint.tool, calls).await.unwrap_or_else(|e| fail(endpoint.label, &e));
        control(&["-d", &format!("c{concurrency}"), &pid]);
        let upstream = (setup.upstream.seen().len() - seen) as f64 / calls as f64;
        let instructions = dumped_instructions(&dir, &format!("c{concurrency}"));
        println!(
            "concurrency {concurrency}: {:.0} instructions per call ({calls} calls, {upstream:.2} upstream requests per call; RUST_LOG={log}); dumps in {}",
            instructions / calls as f64,
            dir.display()
        );
    }
}

fn control(args: &[&str]) {
    let status = Command::new("callgrind_control").args(args).output().expect("callgrind_control runs");
    assert!(
        status.status.success(),
        "callgrind_control {args:?}: {}",
        String::from_utf8_lossy(&status.stderr)
    );
}

/// The `summary:` total of the dump whose trigger names `tag`.
fn dumped_instructions(dir: &std::path::Path, tag: &str) -> f64 {
    let mut total = 0.0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap_or_default();
        // `desc: Trigger: dump c1` (valgrind 3.19; older ones wrote `trigger:` lines).
        let header = |l: &str| l.starts_with("desc: Trigger:") || l.starts_with("trigger:");
        let names_tag = |l: &str| header(l) && l.split_whitespace().any(|w| w == tag);
        if !text.lines().any(names_tag) {
            continue;
        }
        // One dump per thread when threads are separated; summed either way.
        total += text
            .lines()
            .find_map(|l| l.strip_prefix("summary:"))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .unwrap_or(0.0);
    }
    total
}
