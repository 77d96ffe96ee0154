//! Finishing an OAuth authorization: the browser lands on the callback with `state` and a
//! `code` (or the AS's `error`). The state record is found and checked (expiry, then the
//! issuer per RFC 9207, before anything else), consumed with `DELETE … RETURNING`, the code
//! exchanged at the recorded token endpoint, and the new token probed upstream; only then is
//! the connector `connected`. A failure disconnects it with a code saying why.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use url::Url;
use uuid::Uuid;

use super::authorize::state_hash;
use super::{client_credentials_of, finish_connected, probe_upstream};
use crate::connectors::events::Change;
use crate::connectors::model::{Connector, Status};
use crate::connectors::service::get;
use crate::connectors::{Context, credential, store};
use crate::error::{Error, Result};
use crate::mcp::ServerInfo;
use crate::oauth::grant::{self, Tokens};
use crate::oauth::store::{self as oauth_store, StateRecord, verifier_aad};

/// The query of the callback the authorization server redirects the browser to.
#[derive(Debug, Default, Deserialize)]
pub struct CallbackParams {
    pub state: Option<String>,
    pub code: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
    pub iss: Option<String>,
}

/// How a callback ended, for the page or redirect that tells the person.
#[derive(Debug)]
pub struct CallbackOutcome {
    pub redirect_url: Option<String>,
    pub connector_id: Option<Uuid>,
    pub result: std::result::Result<Status, (String, String)>,
}

impl CallbackOutcome {
    fn rejected(
        redirect_url: Option<String>,
        connector_id: Option<Uuid>,
        code: &str,
        description: impl Into<String>,
    ) -> Self {
        Self { redirect_url, connector_id, result: Err((code.to_owned(), description.into())) }
    }

    fn unknown_state() -> Self {
        let unknown = "this authorization link is unknown, already used or expired; connect again";
        Self::rejected(None, None, "invalid_state", unknown)
    }
}

/// Why an authorization did not connect: the connector's status code, the error for the
/// person, and a message for both.
struct Failure {
    status_code: &'static str,
    error: String,
    message: String,
}

/// Completes an authorization: checks `state` and `iss`, consumes the state, exchanges the
/// code, probes the upstream with the new token. Never reports success that did not happen.
pub async fn complete_authorization(ctx: &Context, params: CallbackParams) -> Result<CallbackOutcome> {
    let record = match claim_state(ctx, &params).await? {
        Ok(record) => record,
        Err(ended) => return Ok(ended),
    };
    let (redirect, connector_id) = (record.redirect_url.clone(), Some(record.connector_id));
    let Ok(connector) = get(&ctx.db, record.tenant_id, record.connector_id).await else {
        return Ok(CallbackOutcome::rejected(
            redirect,
            None,
            "invalid_state",
            "the connector no longer exists",
        ));
    };
    let failure = match answer_of(&params) {
        Ok(code) => match exchange_and_probe(ctx, &connector, &record, code).await {
            Ok((info, tokens)) => {
                let connected = finish_connected(ctx, connector, info, Some((tokens, record.grant))).await?;
                return Ok(CallbackOutcome {
                    redirect_url: redirect,
                    connector_id,
                    result: Ok(connected.status),
                });
            }
            Err((code, message)) => Failure { status_code: code, error: code.to_owned(), message },
        },
        Err(failure) => failure,
    };
    record_failure(ctx, connector, &failure).await?;
    Ok(CallbackOutcome::rejected(redirect, connector_id, &failure.error, failure.message))
}

/// The state record the callback names, checked and consumed; or how the callback ends.
async fn claim_state(
    ctx: &Context,
    params: &CallbackParams,
) -> Result<std::result::Result<StateRecord, CallbackOutcome>> {
    let Some(state_value) = params.state.as_deref().filter(|s| !s.is_empty() && s.len() <= 512) else {
        return Ok(Err(CallbackOutcome::rejected(
            None,
            None,
            "invalid_request",
            "the callback has no state parameter",
        )));
    };
    let hash = state_hash(state_value);
    let Some(record) = oauth_store::find_state(&ctx.db, &hash).await? else {
        return Ok(Err(CallbackOutcome::unknown_state()));
    };
    if let Some(ended) = check_record(&record, params.iss.as_deref(), Utc::now()) {
        return Ok(Err(ended));
    }
    let mut tx = ctx.db.begin().await?;
    let Some(record) = oauth_store::take_state(&mut tx, &hash).await? else {
        return Ok(Err(CallbackOutcome::unknown_state()));
    };
    tx.commit().await?;
    Ok(Ok(record))
}

/// The window, then the issuer (RFC 9207) before acting on anything else in the response.
fn check_record(record: &StateRecord, iss: Option<&str>, now: DateTime<Utc>) -> Option<CallbackOutcome> {
    let (redirect, connector_id) = (record.redirect_url.clone(), Some(record.connector_id));
    if record.expires_at <= now {
        let why = "the authorization window has passed; connect again";
        return Some(CallbackOutcome::rejected(redirect, connector_id, "authorization_expired", why));
    }
    // No issuer known (a REST descriptor names endpoints, not an authorization server's
    // metadata): RFC 9207 leaves nothing to compare an `iss` with.
    let issuer_ok = match iss {
        Some(iss) => record.grant.issuer.as_deref().is_none_or(|expected| expected == iss),
        None => !record.grant.iss_required,
    };
    let why = "the authorization response did not come from the expected authorization server";
    (!issuer_ok).then(|| CallbackOutcome::rejected(redirect, connector_id, "invalid_issuer", why))
}

/// The code to exchange, or why the authorization server gave none.
fn answer_of(params: &CallbackParams) -> std::result::Result<&str, Failure> {
    if let Some(error) = &params.error {
        let description =
            params.error_description.as_deref().unwrap_or("the authorization server gave no reason");
        return Err(Failure {
            status_code: "authorization_denied",
            error: error.clone(),
            message: truncate(description, 500),
        });
    }
    params.code.as_deref().filter(|c| !c.is_empty()).ok_or_else(|| Failure {
        status_code: "authorization_failed",
        error: "invalid_request".into(),
        message: "the callback has no code".into(),
    })
}

/// What the authorization server said, cut to `max` characters without control characters.
fn truncate(text: &str, max: usize) -> String {
    text.chars().filter(|c| !c.is_control()).take(max).collect()
}

/// The authorization did not connect: disconnected, with the reason, and announced.
async fn record_failure(ctx: &Context, mut connector: Connector, failure: &Failure) -> Result<()> {
    connector.mark_disconnected(failure.status_code, failure.message.clone());
    let mut tx = ctx.db.begin().await?;
    store::save_state(&mut tx, &connector).await?;
    let code = failure.status_code.to_owned();
    ctx.commit_change(tx, &connector, Change::Disconnected { code }).await?;
    Ok(())
}

/// Exchanges the code and checks the token works upstream. Errors are (status code, message).
async fn exchange_and_probe(
    ctx: &Context,
    connector: &Connector,
    record: &StateRecord,
    code: &str,
) -> std::result::Result<(ServerInfo, Tokens), (&'static str, String)> {
    let internal = |e: Error| ("authorization_failed", e.to_string());
    let grant = &record.grant;
    let verifier = ctx
        .keyring
        .open_str(&record.verifier, &verifier_aad(record.tenant_id, &record.state_hash))
        .map_err(|e| internal(e.into()))?;
    let client =
        client_credentials_of(&ctx.db, &ctx.keyring, connector, &grant.client).await.map_err(internal)?;
    let redirect_uri = grant.redirect_uri.as_deref().unwrap_or_default();
    let tokens = grant::exchange_code(
        &ctx.net,
        &client,
        &grant.token_url,
        redirect_uri,
        code,
        &verifier,
        &grant.resource,
    )
    .await
    .map_err(|e| ("token_exchange_failed", format!("the code exchange failed: {e}")))?;
    if connector.rest.is_some() {
        return match super::rest::verify_token(ctx, connector, &tokens.access_token).await {
            Ok(info) => Ok((info, tokens)),
            Err(err) => Err((err.code(), format!("the new token did not work at the REST API: {err}"))),
        };
    }
    let url = Url::parse(&connector.url).map_err(|e| internal(anyhow::Error::from(e).into()))?;
    let headers =
        credential::headers(connector.auth.as_ref(), Some(&tokens.access_token)).map_err(internal)?;
    match probe_upstream(ctx, connector, &url, &headers).await {
        Ok(info) => Ok((info, tokens)),
        Err(err) => Err((err.code(), format!("the new token did not work upstream: {err}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::{OAuthClientRef, OAuthGrant};
    use crate::platform::crypto::Sealed;

    fn record(issuer: Option<&str>, iss_required: bool, expires_in: i64) -> StateRecord {
        StateRecord {
            state_hash: vec![1],
            tenant_id: Uuid::nil(),
            connector_id: Uuid::nil(),
            grant: OAuthGrant {
                issuer: issuer.map(str::to_owned),
                token_url: "https://as/token".into(),
                revocation_url: None,
                resource: "https://mcp".into(),
                scopes: vec![],
                client: OAuthClientRef::MetadataDocument { client_id: "c".into() },
                redirect_uri: None,
                iss_required,
            },
            redirect_url: Some("https://app/done".into()),
            verifier: Sealed { key_id: "k".into(), ciphertext: vec![] },
            expires_at: Utc::now() + chrono::Duration::seconds(expires_in),
        }
    }

    fn ended(outcome: Option<CallbackOutcome>) -> Option<String> {
        outcome.map(|o| o.result.unwrap_err().0)
    }

    #[test]
    fn the_window_and_then_the_issuer_are_checked() {
        let now = Utc::now();
        let as_ = Some("https://as");
        assert_eq!(
            ended(check_record(&record(as_, false, -1), as_, now)).as_deref(),
            Some("authorization_expired")
        );
        assert_eq!(check_record(&record(as_, false, 60), as_, now).map(|_| ()), None);
        assert_eq!(check_record(&record(as_, false, 60), None, now).map(|_| ()), None, "iss optional");
        let other = check_record(&record(as_, false, 60), Some("https://evil"), now);
        assert_eq!(ended(other).as_deref(), Some("invalid_issuer"));
        assert_eq!(ended(check_record(&record(as_, true, 60), None, now)).as_deref(), Some("invalid_issuer"));
        let unknown = check_record(&record(None, false, 60), Some("https://as"), now);
        assert_eq!(unknown.map(|_| ()), None, "no issuer to compare with");
    }

    #[test]
    fn the_authorization_servers_answer_is_a_code_or_a_reason() {
        let params = |code: Option<&str>, error: Option<&str>, description: Option<&str>| CallbackParams {
            code: code.map(str::to_owned),
            error: error.map(str::to_owned),
            error_description: description.map(str::to_owned),
            ..CallbackParams::default()
        };
        assert_eq!(answer_of(&params(Some("c"), None, None)).ok(), Some("c"));
        let denied = answer_of(&params(Some("c"), Some("access_denied"), Some("no\u{7}pe"))).err().unwrap();
        assert_eq!(
            (denied.status_code, denied.error.as_str(), denied.message.as_str()),
            ("authorization_denied", "access_denied", "nope")
        );
        let silent = answer_of(&params(None, Some("x"), None)).err().unwrap();
        assert_eq!(silent.message, "the authorization server gave no reason");
        let empty = answer_of(&params(Some(""), None, None)).err().unwrap();
        assert_eq!((empty.status_code, empty.error.as_str()), ("authorization_failed", "invalid_request"));
        assert_eq!(truncate(&"é".repeat(600), 500).chars().count(), 500);
    }
}
