//! The connector's state machine, driven by what upstream servers and authorization servers
//! answer: [`connect`] (every auth mode), [`authorize`] (starting an OAuth authorization),
//! [`callback`] (finishing it), [`disconnect`] (on request, on a rejected credential, or when
//! an authorization window passes). What they share is here: probing the upstream with a
//! credential, recording a connection, and the OAuth client a grant presents.

pub mod authorize;
pub mod callback;
pub mod connect;
pub mod disconnect;
pub mod rest;

use std::time::Duration;

use reqwest::header::HeaderMap;
use url::Url;

use super::events::Change;
use super::model::{Connector, SecretField};
use super::service::{get, open_secret};
use super::tokens::{self, RefreshTokenAbsent};
use super::{Context, store};
use crate::error::{Error, Result};
use crate::mcp::ServerInfo;
use crate::mcp::probe::{self, ProbeError, ProbeOutcome};
use crate::oauth::grant::{ClientCredentials, Tokens};
use crate::oauth::store::{self as oauth_store, client_secret_aad};
use crate::oauth::{GrantError, OAuthClientRef, OAuthGrant, TokenEndpointAuthMethod};
use crate::platform::crypto::Keyring;

pub use callback::{CallbackOutcome, CallbackParams, complete_authorization};
pub use connect::ConnectRequest;
pub use connect::connect;
pub use disconnect::{disconnect, disconnect_refused, expire_overdue, reject_credentials, revoke_tokens};

/// How long recording a connection waits for what reacts to it (the first tool sync) before
/// the connect answers; the reaction goes on in the background.
pub const SETTLE_WAIT: Duration = Duration::from_secs(3);

/// Probes with credentials; any failure leaves the connector as it was.
async fn probe_upstream(ctx: &Context, c: &Connector, url: &Url, headers: &HeaderMap) -> Result<ServerInfo> {
    probe_answer(probe::probe(&ctx.net, url, c.transport, headers).await)
}

/// What a probe's answer means for a connect.
fn probe_answer(answer: std::result::Result<ProbeOutcome, ProbeError>) -> Result<ServerInfo> {
    match answer {
        Ok(ProbeOutcome::Ready(info)) => Ok(info),
        Ok(ProbeOutcome::AuthRequired { status, .. }) => Err(Error::unprocessable(
            "credentials_rejected",
            format!(
                "the upstream answered HTTP {} to initialize with the configured credentials",
                status.as_u16()
            ),
        )),
        Ok(ProbeOutcome::Refused { status }) => Err(Error::upstream(
            "upstream_error",
            format!("the upstream answered initialize with HTTP {}", status.as_u16()),
        )),
        Err(ProbeError::Net(err)) => Err(err.into()),
        Err(err @ ProbeError::Protocol(_)) => {
            Err(Error::upstream("upstream_protocol_error", err.to_string()))
        }
    }
}

/// Records a successful connection (with `tokens`, stored sealed in the same transaction),
/// announces it, and waits up to [`SETTLE_WAIT`] for the subscribers to handle it.
async fn finish_connected(
    ctx: &Context,
    mut connector: Connector,
    info: ServerInfo,
    tokens: Option<(Tokens, OAuthGrant)>,
) -> Result<Connector> {
    let mut tx = ctx.db.begin().await?;
    if let Some((tokens, grant)) = tokens {
        let erase = RefreshTokenAbsent::Erase;
        tokens::store(&mut tx, &ctx.keyring, ctx.settings.refresh, &mut connector, &tokens, erase).await?;
        connector.oauth_grant = Some(grant);
    }
    connector.mark_connected(info);
    oauth_store::delete_states_of(&mut tx, connector.id).await?;
    store::save_state(&mut tx, &connector).await?;
    let delivery = ctx.commit_change(tx, &connector, Change::Connected).await?;
    delivery.handled_within(SETTLE_WAIT).await;
    reread(ctx, &connector).await
}

async fn reread(ctx: &Context, c: &Connector) -> Result<Connector> {
    get(&ctx.db, c.tenant_id, c.id).await
}

/// A failed call to an authorization server, as the connect's answer.
fn grant_failed(err: GrantError, what: &str) -> Error {
    match err {
        GrantError::Refused(net) => net.into(),
        GrantError::OAuth { ref error, .. }
            if error == "invalid_client" || error == "unauthorized_client" =>
        {
            Error::unprocessable(
                "credentials_rejected",
                format!("the authorization server rejected the client during {what}: {err}"),
            )
        }
        GrantError::Unsupported(_) => {
            Error::unprocessable("client_registration_unavailable", err.to_string())
        }
        other => Error::upstream("authorization_server_error", format!("{what} failed: {other}")),
    }
}

/// Opens whatever secret the grant's client needs.
/// Reads on `db` (a pool, or the connection of a transaction the caller holds).
pub(crate) async fn client_credentials_of(
    db: impl sqlx::PgExecutor<'_>,
    keyring: &Keyring,
    c: &Connector,
    client: &OAuthClientRef,
) -> Result<ClientCredentials> {
    let (client_id, method, secret) = match client {
        OAuthClientRef::Connector { client_id, method } if c.rest.is_some() => {
            (client_id, *method, rest_client_secret(db, keyring, c).await?)
        }
        OAuthClientRef::Connector { client_id, method } => {
            (client_id, *method, open_secret(db, keyring, c, SecretField::ClientSecret).await?)
        }
        OAuthClientRef::Registered { id, client_id, method } => {
            let registered = oauth_store::get_client(db, c.tenant_id, *id).await?.ok_or_else(|| {
                Error::conflict(
                    "client_registration_lost",
                    "the registered OAuth client is gone; connect again",
                )
            })?;
            let secret = match &registered.secret {
                Some(sealed) => {
                    Some(keyring.open_str(sealed, &client_secret_aad(c.tenant_id, &registered.issuer))?)
                }
                None => None,
            };
            (client_id, *method, secret)
        }
        OAuthClientRef::MetadataDocument { client_id } => (client_id, TokenEndpointAuthMethod::None, None),
    };
    Ok(ClientCredentials { client_id: client_id.clone(), secret, method })
}

/// A REST connector's client secret: a field of its sealed credentials, the one its
/// authorization code auth type names.
async fn rest_client_secret(
    db: impl sqlx::PgExecutor<'_>,
    keyring: &Keyring,
    c: &Connector,
) -> Result<Option<secrecy::SecretString>> {
    let descriptor = &c.rest.as_ref().expect("a REST connector").descriptor;
    let Some(auth) = super::rest::authorization_code_auth(descriptor) else { return Ok(None) };
    let Some(sealed) = open_secret(db, keyring, c, SecretField::RestCredentials).await? else {
        return Ok(None);
    };
    Ok(super::rest::parse(&sealed)?.remove(auth.client_secret_field()))
}

#[cfg(test)]
mod tests {
    use reqwest::StatusCode;

    use super::*;
    use crate::platform::net::NetError;

    #[test]
    fn probe_answers_keep_their_codes() {
        let code = |answer| probe_answer(answer).unwrap_err().code();
        let auth = Ok(ProbeOutcome::AuthRequired { status: StatusCode::UNAUTHORIZED, challenges: vec![] });
        assert_eq!(code(auth), "credentials_rejected");
        assert_eq!(code(Ok(ProbeOutcome::Refused { status: StatusCode::NOT_FOUND })), "upstream_error");
        assert_eq!(code(Err(ProbeError::Net(NetError::Timeout))), "upstream_timeout");
        assert_eq!(code(Err(ProbeError::Protocol("x".into()))), "upstream_protocol_error");
    }

    #[test]
    fn authorization_server_failures_keep_their_codes() {
        let oauth = |error: &str| GrantError::OAuth { error: error.into(), description: None };
        assert_eq!(grant_failed(oauth("invalid_client"), "x").code(), "credentials_rejected");
        assert_eq!(grant_failed(oauth("server_error"), "x").code(), "authorization_server_error");
        assert_eq!(
            grant_failed(GrantError::Unsupported("no".into()), "x").code(),
            "client_registration_unavailable"
        );
        let refused = GrantError::Refused(NetError::DestinationNotAllowed("10.0.0.1".into()));
        assert_eq!(grant_failed(refused, "x").code(), "destination_not_allowed");
    }
}
