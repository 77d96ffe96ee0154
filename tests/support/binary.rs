//! The real `switchboard` binary as a child process on a free port, against a test's
//! database: for what only a whole process shows (signals, exit codes, its own logs and
//! metrics registry).

use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use sqlx::PgPool;

use super::{ADMIN_TOKEN, TestApp, database_url};

pub struct Switchboard {
    child: Option<Child>,
    pub app: TestApp,
    /// Where its stderr (the logs) goes.
    pub log_path: PathBuf,
}

impl Switchboard {
    /// Starts `switchboard serve` with the operator token, private networks allowed, its own
    /// address as public URL, plus `env` (an empty value unsets the variable: `RUST_LOG`
    /// then falls back to the binary's default); waits until `/healthz` answers.
    pub async fn start(db: &PgPool, env: &[(&str, &str)]) -> Self {
        let port = super::node::free_port();
        let listen = format!("127.0.0.1:{port}");
        let log_path = std::env::temp_dir().join(format!("switchboard-{}.log", uuid::Uuid::new_v4()));
        let mut command = Command::new(env!("CARGO_BIN_EXE_switchboard"));
        command
            .env("DATABASE_URL", database_url(db))
            .env("SWITCHBOARD_LISTEN", &listen)
            .env("SWITCHBOARD_PUBLIC_URL", format!("http://{listen}"))
            .env("SWITCHBOARD_ADMIN_TOKEN", ADMIN_TOKEN)
            .env("SWITCHBOARD_ALLOW_PRIVATE_NETWORKS", "true")
            .env(
                "SWITCHBOARD_ENCRYPTION_KEYS",
                switchboard::platform::crypto::Keyring::generate_entry("proc"),
            )
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log_path).unwrap());
        for (name, value) in env {
            if value.is_empty() {
                command.env_remove(name);
            } else {
                command.env(name, value);
            }
        }
        let child = command.spawn().expect("the switchboard binary starts");
        let app = TestApp::attach(listen.parse().unwrap(), db.clone());
        let started = Instant::now();
        while app.client.get(app.url("/healthz")).send().await.is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "switchboard did not start: {}",
                read(&log_path)
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Self { child: Some(child), app, log_path }
    }

    /// Sends SIGTERM, as an orchestrator stopping the replica would.
    pub fn terminate(&self) {
        let pid = self.child.as_ref().expect("still running").id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(sent.success());
    }

    /// Waits for the process to exit (at most `limit`, then it is killed and this panics).
    pub async fn wait(&mut self, limit: Duration) -> ExitStatus {
        let mut child = self.child.take().expect("still running");
        tokio::task::spawn_blocking(move || {
            let started = Instant::now();
            loop {
                if let Some(status) = child.try_wait().unwrap() {
                    return status;
                }
                if started.elapsed() > limit {
                    let _ = child.kill();
                    panic!("switchboard did not exit within {limit:?}");
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        })
        .await
        .unwrap()
    }

    /// Everything it logged so far.
    pub fn logs(&self) -> String {
        read(&self.log_path)
    }
}

fn read(path: &PathBuf) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

impl Drop for Switchboard {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_file(&self.log_path);
    }
}
