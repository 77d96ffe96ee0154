//! `switchboard check-config`: every setting and the database, checked and reported line by
//! line. `serve` runs the same checks at start and refuses to start on a failure.

use std::fmt;
use std::path::Path;

use anyhow::{Context as _, bail};
use sqlx::PgPool;

use super::Config;
use crate::config::{Rate, Settings};
use crate::connectors::Presets;
use crate::platform::crypto::Keyring;
use crate::platform::db;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Ok,
    Warn,
    Fail,
}

#[derive(Debug)]
pub struct Line {
    pub level: Level,
    pub what: &'static str,
    pub detail: String,
}

/// What was checked and how it went.
#[derive(Debug, Default)]
pub struct Report {
    pub lines: Vec<Line>,
}

impl Report {
    fn push(&mut self, level: Level, what: &'static str, detail: impl Into<String>) {
        self.lines.push(Line { level, what, detail: detail.into() });
    }

    /// Records a check's result; the value when it passed.
    fn record<T>(
        &mut self,
        what: &'static str,
        result: anyhow::Result<T>,
        describe: impl FnOnce(&T) -> String,
    ) -> Option<T> {
        match result {
            Ok(value) => {
                self.push(Level::Ok, what, describe(&value));
                Some(value)
            }
            Err(err) => {
                self.push(Level::Fail, what, format!("{err:#}"));
                None
            }
        }
    }

    pub fn passed(&self) -> bool {
        self.lines.iter().all(|l| l.level != Level::Fail)
    }

    /// Logs every line (what `serve` does with the report).
    pub fn log(&self) {
        for line in &self.lines {
            match line.level {
                Level::Ok => tracing::debug!(check = line.what, "{}", line.detail),
                Level::Warn => tracing::warn!(check = line.what, "{}", line.detail),
                Level::Fail => tracing::error!(check = line.what, "{}", line.detail),
            }
        }
    }

    /// The failures, as one error.
    pub fn into_result(self) -> anyhow::Result<()> {
        let failures: Vec<String> = self
            .lines
            .iter()
            .filter(|l| l.level == Level::Fail)
            .map(|l| format!("{}: {}", l.what, l.detail))
            .collect();
        if failures.is_empty() { Ok(()) } else { bail!("{}", failures.join("; ")) }
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for line in &self.lines {
            let level = match line.level {
                Level::Ok => "ok",
                Level::Warn => "WARN",
                Level::Fail => "FAIL",
            };
            writeln!(f, "{level:<5} {:<20} {}", line.what, line.detail)?;
        }
        let verdict = if self.passed() { "configuration OK" } else { "configuration has problems" };
        write!(f, "{verdict}")
    }
}

/// The checks that need no database: public URL, allow-list, operator token, presets, limits.
/// Returns the settings and presets when they all passed.
pub fn configuration(config: &Config, report: &mut Report) -> Option<(Settings, Presets)> {
    let public_url = report.record("public URL", config.checked_public_url(), |u| u.to_string());
    let allowlist = report.record("redirect allow-list", config.checked_redirect_allowlist(), |o| {
        if o.is_empty() { "empty".into() } else { o.join(", ") }
    });
    let admin = report.record("admin token", config.checked_admin_token(), |t| {
        if t.is_some() { "set".into() } else { "not set: the admin API is off".into() }
    });
    let presets =
        report.record("presets", Presets::load(config.presets_spec()).context("SWITCHBOARD_PRESETS"), |p| {
            format!("{} preset(s)", p.all().len())
        });
    let settings = (public_url.is_some() && allowlist.is_some() && admin.is_some())
        .then(|| config.settings())
        .and_then(|s| report.record("settings", s, describe_limits));
    if let Some(s) = &settings {
        report.push(Level::Ok, "client timeouts", describe_timeouts(s));
    }
    if config.allow_private_networks {
        report.push(
            Level::Warn,
            "outbound guard",
            "SWITCHBOARD_ALLOW_PRIVATE_NETWORKS=true: for development only",
        );
    }
    Some((settings?, presets?))
}

fn describe_limits(s: &Settings) -> String {
    let rate = |r: Rate| {
        if r.per_second == 0 {
            "unlimited".to_owned()
        } else {
            format!("{}/s burst {}", r.per_second, r.burst)
        }
    };
    let resync =
        s.tool_resync_interval.map_or("off".to_owned(), |d| humantime::format_duration(d).to_string());
    format!(
        "rate limits per tenant and replica: API {}, proxy {}, {} streams; shutdown delay {}, timeout {}; \
         tool calls time out after {}, periodic tool resync {resync}",
        rate(s.limits.api),
        rate(s.limits.proxy),
        s.limits.proxy_streams,
        humantime::format_duration(s.shutdown.delay),
        humantime::format_duration(s.shutdown.timeout),
        humantime::format_duration(s.tool_call_timeout),
    )
}

fn describe_timeouts(s: &Settings) -> String {
    let limit = |d: Option<std::time::Duration>| {
        d.map_or("none".to_owned(), |d| humantime::format_duration(d).to_string())
    };
    format!(
        "header read {}, request body idle {}, keep-alive idle {}; in a database outage cached keys and \
         proxy targets are served for {}",
        limit(s.http.header_read),
        limit(s.http.body_idle),
        limit(s.http.keep_alive_idle),
        humantime::format_duration(s.cache_outage_grace),
    )
}

/// The keyring as `serve` would load it, without creating a development key.
pub fn keyring(config: &Config, report: &mut Report) -> Option<Keyring> {
    if let Some(spec) = &config.encryption_keys {
        let parsed = Keyring::parse(spec).context("SWITCHBOARD_ENCRYPTION_KEYS");
        return report.record("keyring", parsed, describe_keyring);
    }
    let path = config.data_dir.join("encryption.keys");
    if !path.exists() {
        report.push(
            Level::Warn,
            "keyring",
            format!(
                "SWITCHBOARD_ENCRYPTION_KEYS is not set; serve would generate a development key at {}",
                path.display()
            ),
        );
        return None;
    }
    let loaded = read_key_file(&path);
    let keyring = report.record("keyring", loaded, describe_keyring)?;
    report.push(
        Level::Warn,
        "keyring",
        format!(
            "using the development key file {}; set SWITCHBOARD_ENCRYPTION_KEYS in production",
            path.display()
        ),
    );
    Some(keyring)
}

fn read_key_file(path: &Path) -> anyhow::Result<Keyring> {
    let spec = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Keyring::parse(&spec).with_context(|| format!("in {}", path.display()))
}

fn describe_keyring(k: &Keyring) -> String {
    let ids: Vec<&str> = k.key_ids().collect();
    format!("{} key(s) ({}); sealing with {}", ids.len(), ids.join(", "), k.current_key_id())
}

/// The database: reachable (never created here), migrations, and keys for what is sealed.
pub async fn database(config: &Config, keyring: Option<&Keyring>, report: &mut Report) {
    let url = db::redacted(&config.database_url);
    let Some(pool) = report.record("database", db::connect_existing(&config.database_url).await, |_| {
        format!("{url} is reachable")
    }) else {
        return;
    };
    match db::migration_status(&pool).await {
        Ok(status) => migrations(&status, report),
        Err(err) => report.push(Level::Fail, "migrations", format!("{err:#}")),
    }
    if let Some(keyring) = keyring {
        keys_in_use(&pool, keyring, report).await;
    }
    pool.close().await;
}

fn migrations(status: &db::MigrationStatus, report: &mut Report) {
    if !status.unknown.is_empty() {
        let detail = format!(
            "the database has migrations this binary does not know: {:?} (a newer release?)",
            status.unknown
        );
        report.push(Level::Fail, "migrations", detail);
    } else if !status.changed.is_empty() {
        report.push(
            Level::Fail,
            "migrations",
            format!("applied migrations differ from this binary's: {:?}", status.changed),
        );
    } else if !status.pending.is_empty() {
        let detail = format!(
            "{} applied, {} pending ({:?}): serve applies them at start",
            status.applied,
            status.pending.len(),
            status.pending
        );
        report.push(Level::Warn, "migrations", detail);
    } else {
        report.push(Level::Ok, "migrations", format!("all {} applied", status.applied));
    }
}

/// Every key that sealed a stored secret must be in the keyring, or those secrets are lost.
pub async fn keys_in_use(db: &PgPool, keyring: &Keyring, report: &mut Report) {
    let in_use = match crate::connectors::rekey::key_ids_in_use(db).await {
        Ok(ids) => ids,
        // A database not migrated yet has nothing sealed.
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42P01") => Vec::new(),
        Err(err) => {
            report.push(Level::Fail, "keys in use", err.to_string());
            return;
        }
    };
    let missing: Vec<&str> =
        in_use.iter().map(String::as_str).filter(|id| !keyring.key_ids().any(|k| k == *id)).collect();
    if in_use.is_empty() {
        report.push(Level::Ok, "keys in use", "no stored secrets yet");
    } else if missing.is_empty() {
        report.push(
            Level::Ok,
            "keys in use",
            format!("stored secrets are sealed with {:?}, all in the keyring", in_use),
        );
    } else {
        report.push(
            Level::Fail,
            "keys in use",
            format!("stored secrets are sealed with key(s) {missing:?}, which the keyring lacks: add them back to SWITCHBOARD_ENCRYPTION_KEYS"),
        );
    }
}

/// `switchboard check-config`: the whole report.
pub async fn run(config: &Config) -> Report {
    let mut report = Report::default();
    configuration(config, &mut report);
    let keyring = keyring(config, &mut report);
    database(config, keyring.as_ref(), &mut report).await;
    report
}
