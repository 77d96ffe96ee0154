//! The command line: every setting, read from the environment (or the matching `--flag`),
//! documented in the README, and the commands. [`Cli`] is what the binary parses;
//! [`Config::settings`] checks it into the plain [`Settings`] the service runs with, naming
//! the environment variable of whatever is wrong. `check-config` is [`check`].

pub mod check;

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context as _, bail};
use clap::{ArgAction, Args, Parser, Subcommand};
use secrecy::SecretString;
use url::Url;

use crate::config::{HttpTimeouts, LimitDefaults, Rate, RefreshPolicy, Settings, ShutdownPolicy};
use crate::tenancy::{Scope, parse_origin};

#[derive(Debug, Parser)]
#[command(name = "switchboard", version, about = "Control plane for remote MCP servers")]
pub struct Cli {
    #[command(flatten)]
    pub config: Config,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server (the default when no command is given).
    Serve,
    /// Manage tenants.
    #[command(subcommand)]
    Tenants(TenantsCommand),
    /// Manage tenant API keys.
    #[command(subcommand, name = "api-keys")]
    ApiKeys(ApiKeysCommand),
    /// Manage the encryption keyring.
    #[command(subcommand)]
    Encryption(EncryptionCommand),
    /// Check the configuration and the database; print a report, exit non-zero on a problem.
    #[command(name = "check-config")]
    CheckConfig,
}

#[derive(Debug, Subcommand)]
pub enum TenantsCommand {
    /// Create a tenant and a first API key with every scope; prints both.
    Create {
        name: String,
        /// Print `{"tenant_id": ..., "api_key": ...}` instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// `--scopes` values, parsed here so that the domain's `Scope` knows nothing of clap.
fn scope_arg(value: &str) -> Result<Scope, String> {
    Scope::parse(value).ok_or_else(|| {
        let names: Vec<&str> = Scope::ALL.iter().map(|s| s.as_str()).collect();
        format!("unknown scope `{value}` (one of: {})", names.join(", "))
    })
}

#[derive(Debug, Subcommand)]
pub enum ApiKeysCommand {
    /// Create an API key for a tenant; the key is printed once.
    Create {
        #[arg(long)]
        tenant: uuid::Uuid,
        /// Comma-separated: read, write, proxy, admin.
        #[arg(long, value_delimiter = ',', required = true, value_parser = scope_arg)]
        scopes: Vec<Scope>,
        /// A label to tell keys apart.
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Revoke an API key by id; requests with it get 401 from then on.
    Revoke { id: uuid::Uuid },
}

#[derive(Debug, Subcommand)]
pub enum EncryptionCommand {
    /// Re-seal every stored secret under the first key of SWITCHBOARD_ENCRYPTION_KEYS.
    Reencrypt,
    /// Print a new random key entry (`kid:base64key`) for SWITCHBOARD_ENCRYPTION_KEYS.
    GenerateKey {
        #[arg(long, default_value = "k1")]
        id: String,
    },
}

/// Settings shared by every command. Secret-bearing values hide their env values in `--help`.
#[derive(Debug, Clone, Args)]
pub struct Config {
    /// PostgreSQL URL; the database is created if missing and migrated at start-up.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/switchboard",
        hide_env_values = true,
        global = true
    )]
    pub database_url: String,

    /// Address the HTTP server listens on.
    #[arg(long, env = "SWITCHBOARD_LISTEN", default_value = "127.0.0.1:8080", global = true)]
    pub listen: SocketAddr,

    /// Public base URL of this service (OAuth callbacks); default http://<listen>.
    #[arg(long, env = "SWITCHBOARD_PUBLIC_URL", global = true)]
    pub public_url: Option<Url>,

    /// Where this service's OAuth Client ID Metadata Document is published, when not at
    /// <public URL>/api/v1/oauth/client-metadata.json (a copy on a static https host); it is
    /// the client_id at authorization servers that support CIMD, so it must be https.
    #[arg(long, env = "SWITCHBOARD_CLIENT_METADATA_URL", global = true)]
    pub client_metadata_url: Option<Url>,

    /// Encryption keys `kid:base64key,...` (32-byte keys); the first seals, all open.
    #[arg(long, env = "SWITCHBOARD_ENCRYPTION_KEYS", hide_env_values = true, global = true)]
    pub encryption_keys: Option<String>,

    /// Where a generated development key is kept when no keys are configured.
    #[arg(long, env = "SWITCHBOARD_DATA_DIR", default_value = "./data", global = true)]
    pub data_dir: PathBuf,

    /// Operator token for the /api/v1/admin API; the admin API is off when unset.
    #[arg(long, env = "SWITCHBOARD_ADMIN_TOKEN", hide_env_values = true, global = true)]
    pub admin_token: Option<String>,

    /// Connector presets: a JSON array, or @/path/to/file.json. Default: built-in presets.
    #[arg(long, env = "SWITCHBOARD_PRESETS", hide_env_values = true, global = true)]
    pub presets: Option<String>,

    /// Accepted alias of SWITCHBOARD_PRESETS (the Agent Stack name).
    #[arg(long = "connector-presets", env = "CONNECTOR__PRESETS", hide = true, global = true)]
    pub presets_alias: Option<String>,

    /// Allow upstream URLs on loopback and private networks (development and tests only).
    #[arg(
        long,
        env = "SWITCHBOARD_ALLOW_PRIVATE_NETWORKS",
        default_value_t = false,
        action = ArgAction::Set,
        global = true
    )]
    pub allow_private_networks: bool,

    /// Origins a caller's `redirect_url` may point to, comma-separated.
    #[arg(long, env = "SWITCHBOARD_REDIRECT_ALLOWLIST", value_delimiter = ',', global = true)]
    pub redirect_allowlist: Vec<String>,

    /// How long a person has to complete an OAuth authorization (e.g. `1h`, `15m`).
    #[arg(long, env = "SWITCHBOARD_AUTHORIZATION_TTL", default_value = "1h", value_parser = humantime::parse_duration, global = true)]
    pub authorization_ttl: std::time::Duration,

    /// How long access tokens issued to gateway OAuth clients live (refresh tokens renew them).
    #[arg(long, env = "SWITCHBOARD_OAUTH_ACCESS_TTL", default_value = "1h", value_parser = humantime::parse_duration, global = true)]
    pub oauth_access_ttl: std::time::Duration,

    /// Run the background worker (expiry, refresh) in this process. Off for API-only replicas.
    #[arg(long, env = "SWITCHBOARD_WORKER", default_value_t = true, action = ArgAction::Set, global = true)]
    pub worker: bool,

    /// Refresh OAuth tokens this long before they expire (capped at half their lifetime).
    #[arg(long, env = "SWITCHBOARD_REFRESH_LEAD", default_value = "5m", value_parser = humantime::parse_duration, global = true)]
    pub refresh_lead: std::time::Duration,

    /// Refresh grants at least this often so idle refresh tokens are not revoked; `0` = off.
    #[arg(long, env = "SWITCHBOARD_KEEPALIVE", default_value = "24h", value_parser = parse_duration_or_zero, global = true)]
    pub keepalive: std::time::Duration,

    /// How often the worker looks for due work.
    #[arg(long, env = "SWITCHBOARD_WORKER_INTERVAL", default_value = "5s", value_parser = humantime::parse_duration, global = true)]
    pub worker_interval: std::time::Duration,

    /// Largest request body the MCP proxy accepts, in bytes (413 beyond).
    #[arg(long, env = "SWITCHBOARD_PROXY_MAX_BODY", default_value_t = 4 * 1024 * 1024, global = true)]
    pub proxy_max_body: usize,

    /// Longest a direct tool call (POST …/tools/{name}/call) may take before it is a 504.
    #[arg(long, env = "SWITCHBOARD_TOOL_CALL_TIMEOUT", default_value = "60s", value_parser = humantime::parse_duration, global = true)]
    pub tool_call_timeout: std::time::Duration,

    /// Resync every connected connector's tool list this often; `0` (default) = off.
    #[arg(long, env = "SWITCHBOARD_TOOL_RESYNC_INTERVAL", default_value = "0", value_parser = parse_duration_or_zero, global = true)]
    pub tool_resync_interval: std::time::Duration,

    /// Keep gateway call logs this long (whole days; the worker purges older ones).
    #[arg(long, env = "SWITCHBOARD_GATEWAY_LOG_RETENTION", default_value = "30days", value_parser = humantime::parse_duration, global = true)]
    pub gateway_log_retention: std::time::Duration,

    /// Log format: `text` (default) or `json`.
    #[arg(long, env = "SWITCHBOARD_LOG_FORMAT", default_value = "text", global = true)]
    pub log_format: LogFormat,

    /// Serve /metrics on this address instead of the main listener.
    #[arg(long, env = "SWITCHBOARD_METRICS_LISTEN", global = true)]
    pub metrics_listen: Option<SocketAddr>,

    /// REST API requests per second per tenant (per replica); 0 = unlimited.
    #[arg(long, env = "SWITCHBOARD_RATE_LIMIT_API_RPS", default_value_t = LimitDefaults::default().api.per_second, global = true)]
    pub rate_limit_api_rps: u32,

    /// REST API burst per tenant.
    #[arg(long, env = "SWITCHBOARD_RATE_LIMIT_API_BURST", default_value_t = LimitDefaults::default().api.burst, global = true)]
    pub rate_limit_api_burst: u32,

    /// Proxy requests per second per tenant (per replica); 0 = unlimited.
    #[arg(long, env = "SWITCHBOARD_RATE_LIMIT_PROXY_RPS", default_value_t = LimitDefaults::default().proxy.per_second, global = true)]
    pub rate_limit_proxy_rps: u32,

    /// Proxy burst per tenant.
    #[arg(long, env = "SWITCHBOARD_RATE_LIMIT_PROXY_BURST", default_value_t = LimitDefaults::default().proxy.burst, global = true)]
    pub rate_limit_proxy_burst: u32,

    /// MCP requests per second per key at a gateway's endpoint (per replica; a gateway's
    /// `key_rps` overrides it); 0 = unlimited.
    #[arg(long, env = "SWITCHBOARD_RATE_LIMIT_GATEWAY_KEY_RPS", default_value_t = LimitDefaults::default().gateway_key.per_second, global = true)]
    pub rate_limit_gateway_key_rps: u32,

    /// Gateway key burst (a gateway's `key_burst` overrides it).
    #[arg(long, env = "SWITCHBOARD_RATE_LIMIT_GATEWAY_KEY_BURST", default_value_t = LimitDefaults::default().gateway_key.burst, global = true)]
    pub rate_limit_gateway_key_burst: u32,

    /// Concurrent standalone proxy streams per tenant (per replica); 0 = unlimited.
    #[arg(long, env = "SWITCHBOARD_PROXY_MAX_STREAMS_PER_TENANT", default_value_t = LimitDefaults::default().proxy_streams, global = true)]
    pub proxy_max_streams_per_tenant: u32,

    /// On SIGTERM/SIGINT: how long /readyz fails before the listener closes.
    #[arg(long, env = "SWITCHBOARD_SHUTDOWN_DELAY", default_value = "0s", value_parser = parse_duration_or_zero, global = true)]
    pub shutdown_delay: std::time::Duration,

    /// While the database is unreachable (its change notifications with it): how long cached
    /// API keys and proxy targets are still served; `0` = not at all.
    #[arg(long, env = "SWITCHBOARD_CACHE_OUTAGE_GRACE", default_value = "30s", value_parser = parse_duration_or_zero, global = true)]
    pub cache_outage_grace: std::time::Duration,

    /// Slow clients: longest from the first byte of a request to the end of its headers; `0` = no limit.
    #[arg(long, env = "SWITCHBOARD_HTTP_HEADER_TIMEOUT", default_value = "10s", value_parser = parse_duration_or_zero, global = true)]
    pub http_header_timeout: std::time::Duration,

    /// Slow clients: longest pause while a request body is being read (then 408); `0` = no limit.
    #[arg(long, env = "SWITCHBOARD_HTTP_BODY_IDLE_TIMEOUT", default_value = "30s", value_parser = parse_duration_or_zero, global = true)]
    pub http_body_idle_timeout: std::time::Duration,

    /// How long a connection may wait for its next request before it is closed; `0` = no limit.
    #[arg(long, env = "SWITCHBOARD_HTTP_IDLE_TIMEOUT", default_value = "75s", value_parser = parse_duration_or_zero, global = true)]
    pub http_idle_timeout: std::time::Duration,

    /// On SIGTERM/SIGINT: how long in-flight requests may take once the listener is closed.
    #[arg(long, env = "SWITCHBOARD_SHUTDOWN_TIMEOUT", default_value = "30s", value_parser = humantime::parse_duration, global = true)]
    pub shutdown_timeout: std::time::Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

impl Config {
    pub fn settings(&self) -> anyhow::Result<Settings> {
        Ok(Settings {
            public_url: self.checked_public_url()?,
            client_metadata_url: self.checked_client_metadata_url()?,
            admin_token: self.checked_admin_token()?,
            allow_private_networks: self.allow_private_networks,
            redirect_allowlist: self.checked_redirect_allowlist()?,
            authorization_ttl: self.authorization_ttl,
            oauth_access_ttl: self.oauth_access_ttl,
            refresh: RefreshPolicy {
                lead: self.refresh_lead,
                keepalive: (!self.keepalive.is_zero()).then_some(self.keepalive),
            },
            proxy_max_body: self.proxy_max_body,
            limits: LimitDefaults {
                api: Rate { per_second: self.rate_limit_api_rps, burst: self.rate_limit_api_burst },
                proxy: Rate { per_second: self.rate_limit_proxy_rps, burst: self.rate_limit_proxy_burst },
                proxy_streams: self.proxy_max_streams_per_tenant,
                gateway_key: Rate {
                    per_second: self.rate_limit_gateway_key_rps,
                    burst: self.rate_limit_gateway_key_burst,
                },
            },
            shutdown: ShutdownPolicy { delay: self.shutdown_delay, timeout: self.shutdown_timeout },
            metrics_listen: self.metrics_listen,
            tool_call_timeout: self.tool_call_timeout,
            tool_resync_interval: (!self.tool_resync_interval.is_zero()).then_some(self.tool_resync_interval),
            cache_outage_grace: self.cache_outage_grace,
            gateway_log_retention: self.gateway_log_retention,
            http: HttpTimeouts {
                header_read: nonzero(self.http_header_timeout),
                body_idle: nonzero(self.http_body_idle_timeout),
                keep_alive_idle: nonzero(self.http_idle_timeout),
            },
            ..Settings::default()
        })
    }

    /// The public base URL: given, or formed from the listen address; http(s) with a host.
    pub fn checked_public_url(&self) -> anyhow::Result<Url> {
        let public_url = match &self.public_url {
            Some(url) => url.clone(),
            None => Url::parse(&format!("http://{}", self.listen))
                .context("SWITCHBOARD_LISTEN does not form a valid URL")?,
        };
        if !matches!(public_url.scheme(), "http" | "https") || public_url.host().is_none() {
            bail!("SWITCHBOARD_PUBLIC_URL must be an http(s) URL with a host, got {public_url}");
        }
        Ok(public_url)
    }

    /// A published client metadata document is a client_id: https only (CIMD).
    pub fn checked_client_metadata_url(&self) -> anyhow::Result<Option<Url>> {
        match &self.client_metadata_url {
            Some(url) if url.scheme() != "https" || url.host().is_none() || url.fragment().is_some() => {
                bail!("SWITCHBOARD_CLIENT_METADATA_URL must be an https URL without a fragment, got {url}")
            }
            other => Ok(other.clone()),
        }
    }

    /// The global redirect allow-list, as origins.
    pub fn checked_redirect_allowlist(&self) -> anyhow::Result<Vec<String>> {
        self.redirect_allowlist
            .iter()
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
            .map(parse_origin)
            .collect::<Result<_, _>>()
            .context("SWITCHBOARD_REDIRECT_ALLOWLIST")
    }

    /// The operator token, if set; too short is an error.
    pub fn checked_admin_token(&self) -> anyhow::Result<Option<SecretString>> {
        Ok(match self.admin_token.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(t) if t.len() < 16 => bail!("SWITCHBOARD_ADMIN_TOKEN must be at least 16 characters"),
            Some(t) => Some(SecretString::from(t.to_owned())),
        })
    }

    /// SWITCHBOARD_PRESETS wins over its alias CONNECTOR__PRESETS.
    pub fn presets_spec(&self) -> Option<&str> {
        self.presets.as_deref().or(self.presets_alias.as_deref())
    }
}

fn nonzero(d: std::time::Duration) -> Option<std::time::Duration> {
    (!d.is_zero()).then_some(d)
}

/// A human duration (`90s`, `24h`), or a bare `0` meaning off.
fn parse_duration_or_zero(s: &str) -> Result<std::time::Duration, humantime::DurationError> {
    if s.trim() == "0" { Ok(std::time::Duration::ZERO) } else { humantime::parse_duration(s) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(args: &[&str]) -> Config {
        let mut argv = vec!["switchboard"];
        argv.extend_from_slice(args);
        Cli::try_parse_from(argv).unwrap().config
    }

    #[test]
    fn public_url_defaults_to_the_listen_address() {
        let s = config(&["--listen", "127.0.0.1:9999"]).settings().unwrap();
        assert_eq!(s.public_url.as_str(), "http://127.0.0.1:9999/");
    }

    #[test]
    fn redirect_allowlist_takes_origins_only() {
        let s = config(&["--redirect-allowlist", "https://App.example.com,http://localhost:3000"])
            .settings()
            .unwrap();
        assert_eq!(s.redirect_allowlist, ["https://app.example.com", "http://localhost:3000"]);
        assert!(config(&["--redirect-allowlist", "https://a.com/path"]).settings().is_err());
        assert!(config(&["--redirect-allowlist", "ftp://a.com"]).settings().is_err());
    }

    #[test]
    fn public_endpoints_keep_a_path_prefix() {
        let s = config(&["--public-url", "https://sb.example.com/switchboard"]).settings().unwrap();
        assert_eq!(
            s.oauth_callback_url().as_str(),
            "https://sb.example.com/switchboard/api/v1/oauth/callback"
        );
        let s = config(&["--public-url", "https://sb.example.com/"]).settings().unwrap();
        assert_eq!(
            s.client_metadata_url().as_str(),
            "https://sb.example.com/api/v1/oauth/client-metadata.json"
        );
        let published = [
            "--public-url",
            "http://10.0.0.5:8080",
            "--client-metadata-url",
            "https://cdn.example.com/sb.json",
        ];
        let s = config(&published).settings().unwrap();
        assert_eq!(s.client_metadata_url().as_str(), "https://cdn.example.com/sb.json");
        assert!(config(&["--client-metadata-url", "http://cdn.example.com/sb.json"]).settings().is_err());
    }

    #[test]
    fn slow_client_limits_default_sanely_and_zero_turns_one_off() {
        let s = config(&[]).settings().unwrap();
        assert_eq!(s.http, HttpTimeouts::default());
        assert_eq!(s.cache_outage_grace, std::time::Duration::from_secs(30));
        let s = config(&["--http-idle-timeout", "0", "--http-header-timeout", "5s"]).settings().unwrap();
        assert_eq!(s.http.keep_alive_idle, None);
        assert_eq!(s.http.header_read, Some(std::time::Duration::from_secs(5)));
    }

    #[test]
    fn short_admin_tokens_are_refused() {
        assert!(config(&["--admin-token", "short"]).settings().is_err());
        assert!(config(&["--admin-token", "a-long-enough-operator-token"]).settings().is_ok());
    }
}
