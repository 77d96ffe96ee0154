//! Third-party MCP servers from npm (installed under `interop/` by `.ci/run`), run as child
//! processes on free local ports for interop tests.

use std::io::{BufRead as _, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The interop packages, or `None` to skip. With `SWITCHBOARD_INTEROP=1` (set by `.ci/run`)
/// a missing install is a failure, never a silent skip.
pub fn interop_packages() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("interop/node_modules");
    required(dir, "run `npm ci --prefix interop` (or .ci/run)")
}

/// The Python of `interop/.venv` (the PyPI MCP SDK, schemathesis), or `None` to skip, as
/// [`required`] decides.
pub fn interop_python() -> Option<PathBuf> {
    let python = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("interop/.venv/bin/python");
    required(python, "create interop/.venv (see .ci/run)")
}

/// `path` if it exists; else `None` to skip the test, or, with `SWITCHBOARD_INTEROP=1`, a
/// failure that says how to install it.
pub fn required(path: PathBuf, install: &str) -> Option<PathBuf> {
    let required = std::env::var("SWITCHBOARD_INTEROP").is_ok_and(|v| v == "1");
    match (path.exists(), required) {
        (true, _) => Some(path),
        (false, true) => panic!("SWITCHBOARD_INTEROP=1 but {} is missing: {install}", path.display()),
        (false, false) => {
            eprintln!("skipping: {} is missing; {install} to enable this test", path.display());
            None
        }
    }
}

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A node process, killed when dropped. Its stdout is kept, line by line.
pub struct NodeServer {
    child: Child,
    stdout: Arc<Mutex<Vec<String>>>,
}

impl NodeServer {
    /// Starts `node <script> <args>` with `env`, and waits until `ready_url` answers.
    pub async fn start(
        script: &std::path::Path,
        args: &[&str],
        env: &[(&str, String)],
        ready_url: &str,
    ) -> Self {
        let server = Self::spawn(script, args, env);
        let deadline = Instant::now() + Duration::from_secs(20);
        let client = reqwest::Client::new();
        loop {
            if client.get(ready_url).send().await.is_ok() {
                return server;
            }
            assert!(Instant::now() < deadline, "{} did not start", script.display());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Starts `node <script> <args>` with `env` (a client, or a server with no URL to wait for).
    pub fn spawn(script: &std::path::Path, args: &[&str], env: &[(&str, String)]) -> Self {
        let mut with_script = vec![script.to_str().expect("a UTF-8 path")];
        with_script.extend_from_slice(args);
        Self::spawn_program(std::path::Path::new("node"), &with_script, env)
    }

    /// Starts `program <args>` with `env` (another interpreter's client: the interop Python).
    pub fn spawn_program(program: &std::path::Path, args: &[&str], env: &[(&str, String)]) -> Self {
        let mut command = Command::new(program);
        command.args(args).stdout(Stdio::piped()).stderr(Stdio::null());
        for (k, v) in env {
            command.env(k, v);
        }
        let mut child = command.spawn().expect("the interpreter is installed");
        let stdout = Arc::<Mutex<Vec<String>>>::default();
        let (pipe, lines) = (child.stdout.take().expect("piped"), stdout.clone());
        // Read on a thread of its own, so that a chatty server never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                lines.lock().unwrap().push(line);
            }
        });
        Self { child, stdout }
    }
}

impl NodeServer {
    /// The lines of its stdout that are JSON (what `interop/modern_server.mjs` logs).
    pub fn json_lines(&self) -> Vec<serde_json::Value> {
        let lines = self.stdout.lock().unwrap();
        lines.iter().filter_map(|l| serde_json::from_str(l).ok()).collect()
    }
}

impl Drop for NodeServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
