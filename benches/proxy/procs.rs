//! The processes under test: the real `switchboard` binary and the peer, `mcp-proxy` 0.6.0
//! from crates.io (installed into `target/peers` when missing, never in CI), each in its own
//! process so its RSS and CPU are its own.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

pub const PEER_VERSION: &str = "0.6.0";

/// A child process killed when dropped.
pub struct Proc {
    pub child: Child,
    pub base: String,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proc {
    fn stat_field(&self, file: &str, key: &str) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/{file}", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap()
    }

    /// User + system CPU time the process has used, in seconds.
    pub fn cpu_seconds(&self) -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap();
        // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
        let fields: Vec<&str> = stat.rsplit_once(')').unwrap().1.split_whitespace().collect();
        let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
        // /proc counts in USER_HZ, which the kernel ABI fixes at 100 on Linux.
        ticks / 100.0
    }

    pub fn rss_mib(&self) -> f64 {
        self.stat_field("status", "VmRSS:") / 1024.0
    }
}

/// The switchboard binary under test: this build's, or `BENCH_SWITCHBOARD` (a copy of an
/// earlier build, to compare before and after a change).
fn binary() -> String {
    std::env::var("BENCH_SWITCHBOARD").unwrap_or_else(|_| env!("CARGO_BIN_EXE_switchboard").to_owned())
}

/// The switchboard binary on a free port, rate limits and stream caps off, logging at
/// `log` (`RUST_LOG`); `wrap` runs it under a tool (e.g. valgrind).
pub async fn switchboard(database_url: &str, keys: &str, log: &str, wrap: &[&str]) -> Proc {
    let port = free_port();
    let binary = binary();
    let mut command = match wrap.split_first() {
        Some((tool, args)) => {
            let mut c = Command::new(tool);
            c.args(args).arg(&binary);
            c
        }
        None => Command::new(binary),
    };
    let child = command
        .env("DATABASE_URL", database_url)
        .env("SWITCHBOARD_LISTEN", format!("127.0.0.1:{port}"))
        .env("SWITCHBOARD_ALLOW_PRIVATE_NETWORKS", "true")
        .env("SWITCHBOARD_WORKER", "false")
        .env("SWITCHBOARD_ENCRYPTION_KEYS", keys)
        // The benchmark measures the proxy, not the limiter: no rate limit, no stream cap.
        .env("SWITCHBOARD_RATE_LIMIT_PROXY_RPS", "0")
        .env("SWITCHBOARD_RATE_LIMIT_API_RPS", "0")
        .env("SWITCHBOARD_PROXY_MAX_STREAMS_PER_TENANT", "0")
        .env("RUST_LOG", log)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let proc = Proc { child, base: format!("http://127.0.0.1:{port}") };
    let deadline = Instant::now() + Duration::from_secs(120);
    while reqwest::get(format!("{}/readyz", proc.base)).await.is_err() {
        assert!(Instant::now() < deadline, "switchboard did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    proc
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub fn api_key(database_url: &str, keys: &str) -> String {
    let out = Command::new(binary())
        .args(["tenants", "create", "bench", "--json"])
        .env("DATABASE_URL", database_url)
        .env("SWITCHBOARD_ENCRYPTION_KEYS", keys)
        .output()
        .unwrap();
    let created: Value = serde_json::from_slice(&out.stdout).unwrap();
    created["api_key"].as_str().unwrap().to_owned()
}

/// Creates and connects a connector; returns its id.
pub async fn connector(proxy: &Proc, key: &str, body: Value) -> String {
    let client = reqwest::Client::new();
    let post = |url: String, body: Value| {
        let request = client.post(url).bearer_auth(key).json(&body).send();
        async move { request.await.unwrap().json::<Value>().await.unwrap() }
    };
    let created = post(format!("{}/api/v1/connectors", proxy.base), body).await;
    let id = created["id"].as_str().unwrap().to_owned();
    let connected = post(format!("{}/api/v1/connectors/{id}/connect", proxy.base), json!({})).await;
    assert_eq!(connected["status"], "connected", "{connected}");
    id
}

/// The peer's binary: `target/peers/bin/mcp-proxy`, installed with `cargo install` when
/// missing. None in CI (no installs there) or when the install fails.
pub fn peer_binary() -> Option<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/peers");
    let binary = root.join("bin/mcp-proxy");
    if binary.exists() {
        return Some(binary);
    }
    if std::env::var_os("CI").is_some() {
        println!("mcp-proxy is not installed and CI installs nothing: its row is left out");
        return None;
    }
    println!("installing mcp-proxy {PEER_VERSION} into {} (once)", root.display());
    let installed = Command::new(env!("CARGO"))
        .args(["install", "--locked", "--version", PEER_VERSION, "mcp-proxy", "--root"])
        .arg(&root)
        .status()
        .is_ok_and(|s| s.success());
    if !installed {
        println!("mcp-proxy did not install: its row is left out");
    }
    installed.then_some(binary)
}

/// mcp-proxy in front of `upstream` (one HTTP backend named `bench`, so its tools are
/// `bench/…`), with the upstream's bearer token; its MCP endpoint is `/`.
pub async fn peer(binary: &PathBuf, upstream: &str, token: &str) -> Proc {
    let port = free_port();
    let dir = std::env::temp_dir().join(format!("switchboard-bench-peer-{port}"));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("proxy.toml");
    std::fs::write(
        &config,
        format!(
            "[proxy]\nname = \"bench\"\nseparator = \"/\"\n\n[proxy.listen]\nhost = \"127.0.0.1\"\nport = {port}\n\n\
             [[backends]]\nname = \"bench\"\ntransport = \"http\"\nurl = \"{upstream}\"\nbearer_token = \"{token}\"\n\n\
             [observability]\nlog_level = \"warn\"\n"
        ),
    )
    .unwrap();
    let child = Command::new(binary)
        .arg("--config")
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let proc = Proc { child, base: format!("http://127.0.0.1:{port}") };
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "mcp-proxy did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    proc
}
