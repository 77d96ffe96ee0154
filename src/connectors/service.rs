//! Connector use cases: validate, apply presets, seal secrets, and persist atomically.

use anyhow::Context as _;
use chrono::{SubsecRound as _, Utc};
use secrecy::SecretString;
use serde::{Deserialize, Deserializer};
use sqlx::PgPool;
use url::Url;
use utoipa::ToSchema;
use uuid::Uuid;

use super::Context;
use super::events::Change;
use super::model::{
    self, AuthInput, AuthSecrets, AuthSettings, Connector, Kind, Metadata, OAuthClientInput, OAuthSettings,
    SecretField, Status,
};
use super::presets::{Preset, Presets};
use super::rest::{self, CredentialsInput};
use super::store::{self, ConnectorEvent, ListFilter};
use crate::error::{Error, Result, Validator};
use crate::mcp::Transport;
use crate::oauth::discovery::{DiscoveryResult, discover};
use crate::platform::crypto::Keyring;

/// A request to create a connector.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewConnector {
    /// `mcp` (default): a remote MCP server at `url`. `rest`: a REST API described by
    /// `descriptor`, whose route mappings Switchboard serves as tools.
    #[serde(default)]
    pub kind: Kind,
    /// MCP connectors: the upstream MCP server URL (http or https, at most 2048 characters);
    /// required. REST connectors: absent (each operation names its endpoint).
    #[schema(min_length = 1, max_length = 2048)]
    pub url: Option<String>,
    /// REST connectors: the descriptor (seed 004), validated on save; every problem is listed.
    #[schema(value_type = Option<crate::rest::Descriptor>)]
    pub descriptor: Option<serde_json::Value>,
    /// REST connectors: the credential fields of the descriptor's `authentication`, by key
    /// (`{"api_key": "…"}`). Write-only: sealed, never returned (`credential_fields` says
    /// which are set).
    #[schema(value_type = Option<HashMap<String, String>>)]
    pub credentials: Option<CredentialsInput>,
    #[schema(min_length = 1, max_length = 200)]
    pub name: Option<String>,
    #[schema(max_length = 2000)]
    pub description: Option<String>,
    /// Defaults to `streamable_http` (or the matched preset's transport).
    pub transport: Option<Transport>,
    /// Free-form string map: at most 16 keys of up to 64 characters, values up to 512.
    #[schema(schema_with = model::metadata_schema)]
    pub metadata: Option<Metadata>,
    /// Opaque id of the end user this connector belongs to, for filtering.
    #[schema(max_length = 256)]
    pub owner: Option<String>,
    /// How to authenticate upstream; omit to discover it on connect.
    pub auth: Option<AuthInput>,
    /// Take client credentials and display data from a preset with the same URL.
    #[serde(default = "yes")]
    pub match_preset: bool,
    /// Run authorization discovery now and fill in what it finds (default true).
    #[serde(default = "yes")]
    pub discover: bool,
}

fn yes() -> bool {
    true
}

/// Distinguishes an absent field (`None`) from an explicit `null` (`Some(None)`).
pub fn present<'de, T: Deserialize<'de>, D: Deserializer<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// A partial update. Absent fields are left as they are.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConnectorPatch {
    #[schema(min_length = 1, max_length = 200)]
    pub name: Option<String>,
    /// `null` clears the description.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, max_length = 2000)]
    pub description: Option<Option<String>>,
    /// Replaces the whole map.
    #[schema(schema_with = model::metadata_schema)]
    pub metadata: Option<Metadata>,
    /// Replaces the static credential of a `bearer`, `basic` or `header` connector.
    pub auth: Option<AuthInput>,
    /// REST connectors: replaces the descriptor (validated like on create).
    #[schema(value_type = Option<crate::rest::Descriptor>)]
    pub descriptor: Option<serde_json::Value>,
    /// REST connectors: sets the given credential fields; `null` clears one. Fields the
    /// descriptor no longer declares are dropped.
    #[schema(value_type = Option<HashMap<String, Option<String>>>)]
    pub credentials: Option<CredentialsInput>,
}

/// Creates a connector; unless told not to, runs discovery first and returns its result.
pub async fn create(
    ctx: &Context,
    presets: &Presets,
    tenant_id: Uuid,
    mut input: NewConnector,
) -> Result<(Connector, Option<DiscoveryResult>)> {
    if input.kind == Kind::Rest {
        return Ok((create_rest(ctx, tenant_id, input).await?, None));
    }
    let url = validate_new(&input)?;
    let preset = if input.match_preset { presets.find_by_url(&url) } else { None };
    if let Some(preset) = preset {
        apply_preset(&mut input, preset);
    }
    let (mut auth, secrets) = match input.auth.take() {
        Some(auth) => {
            let (settings, secrets) = auth.split();
            (Some(settings), secrets)
        }
        None => (None, Vec::new()),
    };
    let transport = input.transport.unwrap_or_default();
    let discovery = match input.discover {
        // Discovery never fails a create: a refused destination is reported like any other.
        true => Some(discover(&ctx.net, &url, transport).await.unwrap_or_else(DiscoveryResult::failed)),
        false => None,
    };
    if let Some(d) = &discovery {
        hydrate(&mut auth, d);
    }
    require_client_id(auth.as_ref())?;
    let fields = secrets.iter().map(|(field, _)| *field).collect();
    let connector = new_connector(tenant_id, input, &url, auth, preset.map(|p| p.id.clone()), fields);
    let mut tx = ctx.db.begin().await?;
    store::insert(&mut tx, &connector).await?;
    seal_and_store(&mut tx, &ctx.keyring, &connector, &secrets).await?;
    tx.commit().await?;
    Ok((connector, discovery))
}

/// Checks every field of a create request; the upstream URL when they all pass.
fn validate_new(input: &NewConnector) -> Result<Url> {
    let mut v = Validator::default();
    let url = match input.url.as_deref() {
        Some(raw) => model::validate_upstream_url(&mut v, "url", raw),
        None => {
            v.push("url", "required for an MCP connector");
            None
        }
    };
    v.check(input.descriptor.is_none(), "descriptor", "only REST connectors (`kind: rest`) have one");
    v.check(
        input.credentials.is_none(),
        "credentials",
        "only for REST connectors; MCP connectors use `auth`",
    );
    validate_shared(&mut v, input);
    if let Some(auth) = &input.auth {
        auth.validate(&mut v, "auth");
    }
    v.finish()?;
    Ok(url.expect("validated above"))
}

/// Creates a REST connector: the descriptor and credentials checked (every problem at once,
/// nothing saved otherwise), the credentials sealed in the same transaction.
async fn create_rest(ctx: &Context, tenant_id: Uuid, mut input: NewConnector) -> Result<Connector> {
    let (url, descriptor) = validate_new_rest(&ctx.net, &mut input)?;
    let changes = input.credentials.take().unwrap_or_default();
    let credentials = rest::merge(&descriptor, Default::default(), changes);
    input.name = input.name.take().or_else(|| Some(descriptor.metadata.name.clone()));
    input.description = input.description.take().or_else(|| descriptor.metadata.description.clone());
    let mut connector = new_connector(tenant_id, input, &url, None, None, Vec::new());
    connector.rest = Some(rest::config(descriptor, &credentials));
    let mut tx = ctx.db.begin().await?;
    store::insert(&mut tx, &connector).await?;
    store_rest_credentials(&mut tx, &ctx.keyring, &mut connector, &credentials).await?;
    tx.commit().await?;
    Ok(connector)
}

/// Checks every field of a REST create request; the display URL and the descriptor.
fn validate_new_rest(
    net: &crate::platform::net::Outbound,
    input: &mut NewConnector,
) -> Result<(Url, crate::rest::Descriptor)> {
    let mut v = Validator::default();
    v.check(input.url.is_none(), "url", "a REST connector's endpoints are in its descriptor");
    v.check(
        input.auth.is_none(),
        "auth",
        "a REST connector authenticates as its descriptor says: give `credentials`",
    );
    v.check(input.transport.is_none(), "transport", "only MCP connectors have a transport");
    validate_shared(&mut v, input);
    let descriptor = match input.descriptor.take() {
        Some(value) => rest::check_descriptor(net, value, &mut v),
        None => {
            v.push("descriptor", "required for a REST connector");
            None
        }
    };
    let url = descriptor.as_ref().and_then(|d| rest::display_url(d, &mut v));
    if let (Some(descriptor), Some(credentials)) = (&descriptor, &input.credentials) {
        rest::check_credentials(descriptor, credentials, &mut v);
    }
    v.finish()?;
    let descriptor = descriptor.expect("validated above");
    rest::check_supported(&descriptor)?;
    Ok((url.expect("validated above"), descriptor))
}

/// Seals a REST connector's credentials, or deletes them when none is left.
async fn store_rest_credentials(
    db: &mut sqlx::PgConnection,
    keyring: &Keyring,
    connector: &mut Connector,
    credentials: &crate::rest::request::Credentials,
) -> Result<()> {
    let field = SecretField::RestCredentials;
    if credentials.is_empty() {
        store::delete_secrets(db, connector.id, &[field]).await?;
        connector.secret_fields.retain(|f| *f != field);
        return Ok(());
    }
    let sealed = rest::seal(keyring, connector, credentials);
    store::put_secret(db, connector.tenant_id, connector.id, field, &sealed).await?;
    connector.note_secret(field);
    Ok(())
}

/// The fields every kind of create request shares: display fields and owner.
fn validate_shared(v: &mut Validator, input: &NewConnector) {
    validate_display_fields(v, input.name.as_deref(), input.description.as_deref(), input.metadata.as_ref());
    model::validate_text(v, "owner", input.owner.as_deref(), model::MAX_OWNER_LEN);
}

/// A client credentials connector needs a client id: given, or from a preset.
fn require_client_id(auth: Option<&AuthSettings>) -> Result<()> {
    let mut v = Validator::default();
    if let Some(AuthSettings::Oauth2ClientCredentials(s)) = auth {
        v.check(s.client_id.is_some(), "auth.client_id", "required for oauth2_client_credentials");
    }
    v.finish()
}

/// The new connector, `created`, from the (preset-completed) request.
fn new_connector(
    tenant_id: Uuid,
    input: NewConnector,
    url: &Url,
    auth: Option<AuthSettings>,
    preset_id: Option<String>,
    secret_fields: Vec<SecretField>,
) -> Connector {
    // Postgres keeps microseconds; truncate so the 201 body equals every later read.
    let now = Utc::now().trunc_subsecs(6);
    Connector {
        id: Uuid::now_v7(),
        tenant_id,
        name: input.name.map(|n| n.trim().to_owned()).unwrap_or_else(|| model::default_name(url)),
        description: input.description,
        url: url.to_string(),
        transport: input.transport.unwrap_or_default(),
        rest: None,
        owner: input.owner,
        metadata: input.metadata.unwrap_or_default(),
        auth,
        preset_id,
        status: Status::Created,
        status_reason: None,
        secret_fields,
        server_info: None,
        oauth_grant: None,
        token_expires_at: None,
        authorization_url: None,
        authorization_expires_at: None,
        refresh: Default::default(),
        tools_synced_at: None,
        scope_required: Vec::new(),
        created_at: now,
        updated_at: now,
    }
}

/// Fills what the caller left out with what discovery found: the auth mode when none was
/// given, and an OAuth connector's resource and scopes.
fn hydrate(auth: &mut Option<AuthSettings>, d: &DiscoveryResult) {
    if auth.is_none() {
        if d.server_info.is_some() {
            *auth = Some(AuthSettings::None);
        } else if d.requires_auth() && d.auth_url.is_some() {
            *auth = Some(AuthSettings::Oauth2AuthorizationCode(OAuthSettings::default()));
        }
    }
    if let Some(AuthSettings::Oauth2AuthorizationCode(s) | AuthSettings::Oauth2ClientCredentials(s)) = auth {
        if s.resource.is_none() {
            s.resource = d.resource.clone();
        }
        if s.scopes.is_empty() {
            s.scopes = d.scopes.clone();
        }
    }
}

fn validate_display_fields(
    v: &mut Validator,
    name: Option<&str>,
    description: Option<&str>,
    metadata: Option<&Metadata>,
) {
    if let Some(name) = name {
        v.check(!name.trim().is_empty(), "name", "must not be empty");
    }
    model::validate_text(v, "name", name, model::MAX_NAME_LEN);
    model::validate_text(v, "description", description, model::MAX_DESCRIPTION_LEN);
    if let Some(metadata) = metadata {
        model::validate_metadata(v, "metadata", metadata);
    }
}

/// A preset fills what the request left out: display data, transport, and the preset's
/// OAuth client when the request names none. A preset with a client implies OAuth.
fn apply_preset(input: &mut NewConnector, preset: &Preset) {
    input.name = input.name.take().or_else(|| preset.name.clone());
    input.description = input.description.take().or_else(|| preset.description.clone());
    input.transport = input.transport.or(preset.transport);
    if input.metadata.is_none() && !preset.metadata.is_empty() {
        input.metadata = Some(preset.metadata.clone());
    }
    let Some(client_id) = &preset.client_id else { return };
    let preset_client = || OAuthClientInput {
        client_id: Some(client_id.clone()),
        client_secret: preset.client_secret.clone(),
        ..OAuthClientInput::default()
    };
    match &mut input.auth {
        None => input.auth = Some(AuthInput::Oauth2AuthorizationCode(preset_client())),
        Some(auth) => {
            if let Some(client) = auth.oauth_client_mut().filter(|c| c.client_id.is_none()) {
                let from_preset = preset_client();
                client.client_id = from_preset.client_id;
                client.client_secret = from_preset.client_secret;
            }
        }
    }
}

async fn seal_and_store(
    db: &mut sqlx::PgConnection,
    keyring: &Keyring,
    connector: &Connector,
    secrets: &AuthSecrets,
) -> Result<()> {
    for (field, secret) in secrets {
        let sealed = keyring.seal_str(secret, &field.aad(connector.tenant_id, connector.id));
        store::put_secret(db, connector.tenant_id, connector.id, *field, &sealed).await?;
    }
    Ok(())
}

pub async fn get(db: &PgPool, tenant_id: Uuid, id: Uuid) -> Result<Connector> {
    store::get(db, tenant_id, id).await?.ok_or(Error::NotFound("connector"))
}

/// Step-up: the upstream refused the connector's token for lacking `scopes`. They are
/// recorded (the tokens stay) so the connector shows them and the next connect asks for them.
pub async fn require_scopes(ctx: &Context, tenant_id: Uuid, id: Uuid, scopes: &[String]) -> Result<()> {
    if store::set_scope_required(&ctx.db, tenant_id, id, scopes).await? {
        ctx.forget(id);
    }
    Ok(())
}

pub const DEFAULT_PAGE_SIZE: i64 = 50;
pub const MAX_PAGE_SIZE: i64 = 200;

/// A page of connectors and the cursor of the next one.
pub async fn list(
    db: &PgPool,
    tenant_id: Uuid,
    filter: ListFilter<'_>,
) -> Result<(Vec<Connector>, Option<Uuid>)> {
    let limit = filter.limit;
    let rows = store::list(db, tenant_id, &ListFilter { limit: limit + 1, ..filter }).await?;
    Ok(crate::platform::page::split(rows, limit, |c| c.id))
}

pub async fn update(
    ctx: &Context,
    tenant_id: Uuid,
    id: Uuid,
    mut patch: ConnectorPatch,
) -> Result<Connector> {
    let mut v = Validator::default();
    let description = patch.description.as_ref().and_then(|d| d.as_deref());
    validate_display_fields(&mut v, patch.name.as_deref(), description, patch.metadata.as_ref());
    if let Some(auth) = &patch.auth {
        v.check(
            auth.is_static_credential(),
            "auth.mode",
            "only bearer, basic or header credentials can be replaced",
        );
        auth.validate(&mut v, "auth");
    }
    let descriptor =
        patch.descriptor.take().and_then(|value| rest::check_descriptor(&ctx.net, value, &mut v));
    if let (Some(descriptor), Some(credentials)) = (&descriptor, &patch.credentials) {
        rest::check_credentials(descriptor, credentials, &mut v);
    }
    v.finish()?;
    descriptor.as_ref().map(rest::check_supported).transpose()?;

    let mut tx = ctx.db.begin().await?;
    let mut connector =
        store::get_for_update(&mut tx, tenant_id, id).await?.ok_or(Error::NotFound("connector"))?;
    if let Some(name) = patch.name {
        connector.name = name.trim().to_owned();
    }
    if let Some(description) = patch.description {
        connector.description = description;
    }
    if let Some(metadata) = patch.metadata {
        connector.metadata = metadata;
    }
    if let Some(auth) = patch.auth {
        if !connector.auth.as_ref().is_some_and(AuthSettings::is_static_credential) {
            return Err(Error::conflict(
                "auth_not_replaceable",
                "this connector does not use a static credential; delete and re-create it to change how it authenticates",
            ));
        }
        let (settings, secrets) = auth.split();
        connector.auth = Some(settings);
        seal_and_store(&mut tx, &ctx.keyring, &connector, &secrets).await?;
    }
    let reconfigured = descriptor.is_some();
    if reconfigured || patch.credentials.is_some() {
        update_rest(&mut tx, &ctx.keyring, &mut connector, descriptor, patch.credentials.unwrap_or_default())
            .await?;
    }
    store::update(&mut tx, &connector).await?;
    let updated =
        store::get(&mut *tx, tenant_id, id).await?.context("connector vanished inside its transaction")?;
    if reconfigured && updated.status == Status::Connected {
        // Its tools come from the descriptor: the catalog re-reads them, and the answer waits
        // (boundedly) so a client reading the tools next sees the new ones.
        let delivery = ctx.commit_change(tx, &updated, Change::Reconfigured).await?;
        delivery.handled_within(super::lifecycle::SETTLE_WAIT).await;
    } else {
        ctx.commit(tx, id).await?;
    }
    Ok(updated)
}

/// A PATCH of a REST connector's descriptor or credentials, inside its transaction.
async fn update_rest(
    tx: &mut sqlx::PgConnection,
    keyring: &Keyring,
    connector: &mut Connector,
    descriptor: Option<crate::rest::Descriptor>,
    changes: CredentialsInput,
) -> Result<()> {
    let Some(config) = connector.rest.take() else {
        return Err(Error::conflict(
            "not_a_rest_connector",
            "only REST connectors have a descriptor and credentials; MCP connectors use `auth`",
        ));
    };
    let stored = match open_secret(&mut *tx, keyring, connector, SecretField::RestCredentials).await? {
        Some(secret) => rest::parse(&secret)?,
        None => Default::default(),
    };
    let mut v = Validator::default();
    if let Some(new) = &descriptor {
        rest::check_credentials_follow(&config.descriptor, new, &stored, &changes, &mut v);
    }
    let descriptor = descriptor.unwrap_or(config.descriptor);
    rest::check_credentials(&descriptor, &changes, &mut v);
    let url = rest::display_url(&descriptor, &mut v);
    v.finish()?;
    let credentials = rest::merge(&descriptor, stored, changes);
    store_rest_credentials(tx, keyring, connector, &credentials).await?;
    connector.url = url.expect("validated above").to_string();
    connector.rest = Some(rest::config(descriptor, &credentials));
    Ok(())
}

/// Deletes a connector after revoking its tokens (best effort).
pub async fn delete(ctx: &Context, tenant_id: Uuid, id: Uuid) -> Result<()> {
    let connector = get(&ctx.db, tenant_id, id).await?;
    super::lifecycle::revoke_tokens(ctx, &connector).await;
    if !store::delete(&ctx.db, tenant_id, id).await? {
        return Err(Error::NotFound("connector"));
    }
    ctx.forget(id);
    Ok(())
}

/// Opens one sealed secret of a connector; `None` when it holds no such secret.
/// Runs on the caller's executor, so code holding a transaction reads on that connection.
pub async fn open_secret(
    db: impl sqlx::PgExecutor<'_>,
    keyring: &Keyring,
    connector: &Connector,
    field: SecretField,
) -> Result<Option<SecretString>> {
    let Some(sealed) = store::get_secret(db, connector.tenant_id, connector.id, field).await? else {
        return Ok(None);
    };
    Ok(Some(keyring.open_str(&sealed, &field.aad(connector.tenant_id, connector.id))?))
}

/// Opens the secret the connector's credential is made of (see
/// [`super::credential::secret_field`]); `None` for a mode without one or when none is
/// stored.
pub async fn open_credential(
    db: impl sqlx::PgExecutor<'_>,
    keyring: &Keyring,
    connector: &Connector,
) -> Result<Option<SecretString>> {
    if connector.rest.is_some() {
        return open_secret(db, keyring, connector, SecretField::RestCredentials).await;
    }
    match super::credential::secret_field(connector.auth.as_ref()) {
        Some(field) => open_secret(db, keyring, connector, field).await,
        None => Ok(None),
    }
}

/// A connector and, while it is connected, its credential's secret opened: read in one
/// transaction, so the two agree.
pub async fn get_with_credential(
    db: &PgPool,
    keyring: &Keyring,
    tenant_id: Uuid,
    id: Uuid,
) -> Result<(Connector, Option<SecretString>)> {
    let mut tx = db.begin().await?;
    let connector = store::get(&mut *tx, tenant_id, id).await?.ok_or(Error::NotFound("connector"))?;
    let secret = match connector.status {
        Status::Connected => open_credential(&mut *tx, keyring, &connector).await?,
        _ => None,
    };
    tx.commit().await?;
    Ok((connector, secret))
}

/// How many connectors are in each status, over all tenants (for metrics).
pub async fn count_by_status(db: &PgPool) -> Result<Vec<(String, i64)>> {
    Ok(store::count_by_status(db).await?)
}

/// A connector's status history, newest first.
pub async fn events(
    db: &PgPool,
    tenant_id: Uuid,
    id: Uuid,
    before: Option<i64>,
    limit: i64,
) -> Result<(Vec<ConnectorEvent>, Option<i64>)> {
    get(db, tenant_id, id).await?;
    let rows = store::list_events(db, tenant_id, id, before, limit + 1).await?;
    Ok(crate::platform::page::split(rows, limit, |e| e.id))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(body: serde_json::Value) -> NewConnector {
        serde_json::from_value(body).unwrap()
    }

    #[test]
    fn a_create_request_names_every_bad_field() {
        let bad = request(serde_json::json!({
            "url": "ftp://x", "name": " ", "owner": "a\u{7}b",
            "auth": {"mode": "basic", "username": "a:b", "password": ""},
        }));
        let Err(Error::Invalid(errors)) = validate_new(&bad) else { panic!("invalid") };
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        for field in ["url", "name", "owner", "auth.username", "auth.password"] {
            assert!(fields.contains(&field), "{field} in {fields:?}");
        }
        assert!(validate_new(&request(serde_json::json!({"url": "https://mcp.example.com/"}))).is_ok());
    }

    #[test]
    fn client_credentials_need_a_client_id() {
        let without = AuthSettings::Oauth2ClientCredentials(OAuthSettings::default());
        assert_eq!(require_client_id(Some(&without)).unwrap_err().code(), "validation_failed");
        let with = AuthSettings::Oauth2ClientCredentials(OAuthSettings {
            client_id: Some("c".into()),
            ..OAuthSettings::default()
        });
        assert!(require_client_id(Some(&with)).is_ok());
        assert!(require_client_id(None).is_ok());
    }

    #[test]
    fn a_new_connector_is_created_and_named_after_its_host_by_default() {
        let url = Url::parse("https://mcp.example.com/mcp").unwrap();
        let c =
            new_connector(Uuid::nil(), request(serde_json::json!({"url": url})), &url, None, None, vec![]);
        assert_eq!(
            (c.name.as_str(), c.status, c.transport),
            ("mcp.example.com", Status::Created, Transport::StreamableHttp)
        );
        assert_eq!(c.created_at.timestamp_subsec_nanos() % 1000, 0, "microseconds, as Postgres keeps them");
        let named = request(serde_json::json!({"url": url, "name": "  Mine "}));
        assert_eq!(new_connector(Uuid::nil(), named, &url, None, None, vec![]).name, "Mine");
    }

    #[test]
    fn discovery_fills_only_what_was_left_out() {
        let d = DiscoveryResult {
            requires_auth: Some(true),
            auth_url: Some("https://as/authorize".into()),
            resource: Some("https://mcp".into()),
            scopes: vec!["s".into()],
            ..DiscoveryResult::default()
        };
        let mut auth = None;
        hydrate(&mut auth, &d);
        let Some(AuthSettings::Oauth2AuthorizationCode(s)) = &auth else { panic!("{auth:?}") };
        assert_eq!(
            (s.resource.as_deref(), s.scopes.as_slice()),
            (Some("https://mcp"), &["s".to_owned()][..])
        );
        let mut bearer = Some(AuthSettings::Bearer);
        hydrate(&mut bearer, &d);
        assert_eq!(bearer, Some(AuthSettings::Bearer));
    }
}
