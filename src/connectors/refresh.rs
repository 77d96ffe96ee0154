//! Refreshing a connector's OAuth tokens, single-flight: within a process one caller per
//! connector at a time (an async mutex per connector), across replicas a row lock on the
//! connector, with the tokens re-read under the lock so a refresh another replica already
//! made is never repeated. Repeating it would replay a rotated refresh token, which servers
//! answer by revoking the whole grant.

use chrono::Utc;
use secrecy::{ExposeSecret as _, SecretString};
use uuid::Uuid;

use super::connect::client_credentials_of;
use super::model::{SecretField, Status};
use super::service::open_secret;
use super::store;
use super::tokens::{self, RefreshTokenAbsent};
use crate::error::{Error, Result};
use crate::http::AppState;
use crate::oauth::GrantError;
use crate::oauth::OAuthClientRef;
use crate::oauth::grant;

/// Why a refresh is asked for.
#[derive(Clone, Copy)]
pub enum Trigger<'a> {
    /// The schedule says so (worker).
    Due,
    /// The upstream rejected this access token (proxy): refresh unless it was replaced already.
    Rejected(&'a SecretString),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshOutcome {
    Refreshed,
    /// Someone else refreshed already, or there is nothing to refresh.
    NotNeeded,
    /// The grant is dead (`invalid_grant`, rejected client): the connector is disconnected.
    Disconnected,
    /// A transient failure: tokens kept, retry scheduled with backoff.
    Retrying,
}

pub async fn refresh(
    state: &AppState,
    tenant_id: Uuid,
    id: Uuid,
    trigger: Trigger<'_>,
) -> Result<RefreshOutcome> {
    let trigger_label = match trigger {
        Trigger::Due => "due",
        Trigger::Rejected(_) => "rejected",
    };
    let result = refresh_single_flight(state, tenant_id, id, trigger).await;
    let outcome = match &result {
        Ok(RefreshOutcome::Refreshed) => "refreshed",
        Ok(RefreshOutcome::NotNeeded) => "not_needed",
        Ok(RefreshOutcome::Disconnected) => "disconnected",
        Ok(RefreshOutcome::Retrying) => "retrying",
        Err(_) => "error",
    };
    metrics::counter!(crate::platform::metrics::REFRESHES, "trigger" => trigger_label, "outcome" => outcome)
        .increment(1);
    result
}

async fn refresh_single_flight(
    state: &AppState,
    tenant_id: Uuid,
    id: Uuid,
    trigger: Trigger<'_>,
) -> Result<RefreshOutcome> {
    let _flight = state.refresh_locks.hold(id).await;
    let mut tx = state.db.begin().await?;
    let mut c = store::get_for_update(&mut tx, tenant_id, id).await?.ok_or(Error::NotFound("connector"))?;
    let Some(grant) = c.oauth_grant.clone() else { return Ok(RefreshOutcome::NotNeeded) };
    if c.status != Status::Connected {
        return Ok(RefreshOutcome::NotNeeded);
    }
    // Under the lock: is the refresh still needed, or did another caller do it already?
    let now = Utc::now();
    let needed = match trigger {
        Trigger::Due => c.refresh.next_refresh_at.is_some_and(|t| t <= now),
        Trigger::Rejected(seen) => open_secret(&mut *tx, &state.keyring, &c, SecretField::AccessToken)
            .await?
            .is_some_and(|current| current.expose_secret() == seen.expose_secret()),
    };
    if !needed {
        return Ok(RefreshOutcome::NotNeeded);
    }

    // Every read below uses the transaction's connection: a refresh holds exactly one.
    let client = client_credentials_of(&mut *tx, state, &c, &grant.client).await?;
    let result = if tokens::uses_client_credentials(&c) {
        grant::client_credentials(&state.net, &client, &grant.token_url, &grant.scopes, &grant.resource).await
    } else {
        match open_secret(&mut *tx, &state.keyring, &c, SecretField::RefreshToken).await? {
            Some(refresh_token) => {
                grant::refresh(&state.net, &client, &grant.token_url, &refresh_token, &grant.resource).await
            }
            None => Err(GrantError::OAuth {
                error: "invalid_grant".into(),
                description: Some("no refresh token was issued; connect again".into()),
            }),
        }
    };
    let outcome = match result {
        Ok(new_tokens) => {
            tokens::store(&mut tx, state, &mut c, &new_tokens, RefreshTokenAbsent::Keep).await?;
            RefreshOutcome::Refreshed
        }
        Err(err) => match err.oauth_error() {
            Some("invalid_grant") => {
                tokens::erase(&mut tx, &mut c).await?;
                c.mark_disconnected(
                    "refresh_failed",
                    format!("the authorization server refused the refresh: {err}"),
                );
                RefreshOutcome::Disconnected
            }
            Some("invalid_client" | "unauthorized_client") => {
                // A bad registration: drop it so the next connect registers afresh.
                if let OAuthClientRef::Registered { id: registration, .. } = &grant.client {
                    crate::oauth::store::delete_client(&mut *tx, c.tenant_id, *registration).await?;
                }
                tokens::erase(&mut tx, &mut c).await?;
                c.mark_disconnected(
                    "refresh_failed",
                    format!("the authorization server rejected the client: {err}; connect again"),
                );
                RefreshOutcome::Disconnected
            }
            _ => {
                c.refresh.attempts += 1;
                c.refresh.last_error = Some(err.to_string());
                c.refresh.next_refresh_at = Some(tokens::retry_at(now, c.refresh.attempts));
                RefreshOutcome::Retrying
            }
        },
    };
    store::save_state(&mut tx, &c).await?;
    state.commit_connector_change(tx, id).await?;
    if outcome != RefreshOutcome::Refreshed {
        tracing::warn!(connector_id = %id, ?outcome, error = c.refresh.last_error.as_deref().or(c.status_reason.as_ref().map(|r| r.message.as_str())), "token refresh did not succeed");
    }
    Ok(outcome)
}
