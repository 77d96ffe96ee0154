use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser as _;
use secrecy::ExposeSecret as _;
use switchboard::cli::{
    ApiKeysCommand, Cli, Command, Config, EncryptionCommand, LogFormat, TenantsCommand, check,
};
use switchboard::config::DEFAULT_LOG_FILTER;
use switchboard::http::AppState;
use switchboard::platform::crypto::Keyring;
use switchboard::platform::db;
use switchboard::platform::metrics::upkeep;
use switchboard::tenancy::service as tenancy;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.config.log_format);
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime starts");
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // One line that says what to fix; no backtrace.
            eprintln!("switchboard: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_LOG_FILTER));
    // Colours only on a terminal: log files and collectors get plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder =
        tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let config = cli.config;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(&config).await,
        Command::Tenants(TenantsCommand::Create { name, json }) => {
            let pool = db::connect_and_migrate(&config.database_url, 2).await?;
            let (tenant, issued) = tenancy::create_tenant(&pool, &name).await?;
            if json {
                let created = switchboard::http::api::TenantCreated::new(tenant, issued);
                println!("{}", serde_json::to_string_pretty(&created)?);
            } else {
                println!("tenant_id: {}\napi_key:   {}", tenant.id, issued.secret.expose_secret());
                eprintln!("Store the API key now: it is not shown again.");
            }
            Ok(())
        }
        Command::ApiKeys(ApiKeysCommand::Create { tenant, scopes, name, json }) => {
            let pool = db::connect_and_migrate(&config.database_url, 2).await?;
            let issued = tenancy::create_api_key(&pool, tenant, &scopes, name.as_deref()).await?;
            if json {
                let view = switchboard::http::api::IssuedApiKeyView::from(issued);
                println!("{}", serde_json::to_string_pretty(&view)?);
            } else {
                println!("api_key_id: {}\napi_key:    {}", issued.key.id, issued.secret.expose_secret());
                eprintln!("Store the API key now: it is not shown again.");
            }
            Ok(())
        }
        Command::ApiKeys(ApiKeysCommand::Revoke { id }) => {
            let pool = db::connect_and_migrate(&config.database_url, 2).await?;
            tenancy::revoke_api_key(&pool, id, None).await?;
            println!("revoked {id}");
            Ok(())
        }
        Command::Encryption(EncryptionCommand::Reencrypt) => {
            let pool = db::connect_and_migrate(&config.database_url, 2).await?;
            let keyring = load_keyring(&config)?;
            let count = switchboard::connectors::rekey::reencrypt_all(&pool, &keyring).await?;
            println!("re-sealed {count} secret(s) under key {}", keyring.current_key_id());
            Ok(())
        }
        Command::CheckConfig => {
            let report = check::run(&config).await;
            println!("{report}");
            if report.passed() { Ok(()) } else { anyhow::bail!("the configuration has problems (see above)") }
        }
        Command::Encryption(EncryptionCommand::GenerateKey { id }) => {
            println!("{}", Keyring::generate_entry(&id));
            Ok(())
        }
    }
}

/// The configured keyring, or a development key kept in the data directory.
fn load_keyring(config: &Config) -> anyhow::Result<Keyring> {
    if let Some(spec) = &config.encryption_keys {
        return Keyring::parse(spec).context("SWITCHBOARD_ENCRYPTION_KEYS");
    }
    let (keyring, created) = Keyring::load_or_create_file(&config.data_dir)?;
    let path = config.data_dir.join("encryption.keys");
    if created {
        tracing::warn!(path = %path.display(), "generated an encryption key; production must set SWITCHBOARD_ENCRYPTION_KEYS");
    } else {
        tracing::warn!(path = %path.display(), "using the generated encryption key; production must set SWITCHBOARD_ENCRYPTION_KEYS");
    }
    Ok(keyring)
}

async fn serve(config: &Config) -> anyhow::Result<()> {
    // The same checks as `switchboard check-config`, before anything starts.
    let mut report = check::Report::default();
    let loaded = check::configuration(config, &mut report);
    report.log();
    let Some((settings, presets)) = loaded else { return report.into_result() };
    let keyring = load_keyring(config)?;
    let pool = db::connect_and_migrate(&config.database_url, 16).await?;
    let mut report = check::Report::default();
    check::keys_in_use(&pool, &keyring, &mut report).await;
    report.log();
    report.into_result()?;

    let state = AppState::new(pool.clone(), keyring, presets, settings);
    let worker = if config.worker {
        if let Some(every) = state.settings.tool_resync_interval {
            switchboard::worker::resync::spawn(state.catalog(), state.shutdown.clone(), every);
        }
        let worker =
            switchboard::worker::Context { connectors: state.connectors(), shutdown: state.shutdown.clone() };
        Some(switchboard::worker::spawn(worker, config.worker_interval))
    } else {
        tracing::info!("background worker disabled (SWITCHBOARD_WORKER=false)");
        None
    };
    tokio::spawn(upkeep(state.shutdown.stopping_owned()));
    if let Some(addr) = state.settings.metrics_listen {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr} (SWITCHBOARD_METRICS_LISTEN)"))?;
        tokio::spawn(switchboard::http::app::serve_metrics(listener, state.clone()));
    }

    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {} (SWITCHBOARD_LISTEN)", config.listen))?;
    tracing::info!(listen = %config.listen, public_url = %state.settings.public_url, "switchboard is serving");
    let timeout = state.settings.shutdown.timeout;
    switchboard::http::serve(listener, state, shutdown_signal()).await?;
    if let Some(worker) = worker
        && tokio::time::timeout(timeout, worker).await.is_err()
    {
        tracing::warn!("the worker did not stop within the shutdown timeout");
    }
    pool.close().await;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut sig) => {
                sig.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = terminate => {} }
}
