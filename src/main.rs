use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser as _;
use secrecy::ExposeSecret as _;
use switchboard::config::{
    ApiKeysCommand, Cli, Command, Config, EncryptionCommand, LogFormat, TenantsCommand,
};
use switchboard::connectors::Presets;
use switchboard::crypto::Keyring;
use switchboard::tenancy::service as tenancy;
use switchboard::{AppState, db};
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
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
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
                let created = switchboard::api::TenantCreated::new(tenant, issued);
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
                let view = switchboard::api::IssuedApiKeyView::from(issued);
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
            let count = switchboard::rekey::reencrypt_all(&pool, &keyring).await?;
            println!("re-sealed {count} secret(s) under key {}", keyring.current_key_id());
            Ok(())
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
    let settings = config.settings()?;
    let keyring = load_keyring(config)?;
    let presets = Presets::load(config.presets_spec()).context("SWITCHBOARD_PRESETS")?;
    let pool = db::connect_and_migrate(&config.database_url, 16).await?;
    let state = AppState::new(pool.clone(), keyring, presets, settings);
    if config.worker {
        switchboard::worker::spawn(state.clone(), config.worker_interval);
        if let Some(every) = state.settings.tool_resync_interval {
            switchboard::catalog::service::spawn_periodic(state.clone(), every);
        }
    } else {
        tracing::info!("background worker disabled (SWITCHBOARD_WORKER=false)");
    }

    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {} (SWITCHBOARD_LISTEN)", config.listen))?;
    tracing::info!(listen = %config.listen, public_url = %state.settings.public_url, "switchboard is serving");
    switchboard::serve(listener, state, shutdown_signal()).await?;
    pool.close().await;
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
    tracing::info!("shutting down");
}
