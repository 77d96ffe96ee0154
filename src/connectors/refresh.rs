//! Refreshing a connector's OAuth tokens, single-flight: within a process one caller per
//! connector at a time (an async mutex per connector), across replicas a row lock on the
//! connector, with the tokens re-read under the lock so a refresh another replica already
//! made is never repeated. Repeating it would replay a rotated refresh token, which servers
//! answer by revoking the whole grant.

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret as _, SecretString};
use sqlx::PgConnection;
use uuid::Uuid;

use super::events::Change;
use super::lifecycle::client_credentials_of;
use super::model::{Connector, SecretField, Status};
use super::service::open_secret;
use super::tokens::{self, RefreshTokenAbsent};
use super::{Context, store};
use crate::error::{Error, Result};
use crate::oauth::grant::{self, Tokens};
use crate::oauth::store as oauth_store;
use crate::oauth::{GrantError, OAuthClientRef, OAuthGrant};
use crate::platform::crypto::Keyring;

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

/// Refreshes the connector's tokens unless someone else already did (see the module docs),
/// counting the outcome.
pub async fn refresh(
    ctx: &Context,
    tenant_id: Uuid,
    id: Uuid,
    trigger: Trigger<'_>,
) -> Result<RefreshOutcome> {
    let trigger_label = match trigger {
        Trigger::Due => "due",
        Trigger::Rejected(_) => "rejected",
    };
    let result = refresh_single_flight(ctx, tenant_id, id, trigger).await;
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

/// Claims up to `limit` connectors whose refresh is due, leased for `lease` so other
/// replicas skip them (a crashed replica's lease simply runs out).
pub async fn claim_due(
    db: &sqlx::PgPool,
    limit: i64,
    lease: std::time::Duration,
) -> Result<Vec<(Uuid, Uuid)>> {
    Ok(store::claim_due_refreshes(db, limit, lease).await?)
}

/// Gives claimed connectors back before their lease runs out (a worker stopping mid-batch).
pub async fn release_claims(db: &sqlx::PgPool, ids: &[Uuid]) -> Result<u64> {
    Ok(store::release_refresh_claims(db, ids).await?)
}

async fn refresh_single_flight(
    ctx: &Context,
    tenant_id: Uuid,
    id: Uuid,
    trigger: Trigger<'_>,
) -> Result<RefreshOutcome> {
    let _flight = ctx.refresh_locks.hold(id).await;
    let mut tx = ctx.db.begin().await?;
    let mut c = store::get_for_update(&mut tx, tenant_id, id).await?.ok_or(Error::NotFound("connector"))?;
    let Some(grant) = c.oauth_grant.clone() else { return Ok(RefreshOutcome::NotNeeded) };
    let now = Utc::now();
    // Under the lock: is the refresh still needed, or did another caller do it already?
    if c.status != Status::Connected || !still_needed(&mut tx, &ctx.keyring, &c, trigger, now).await? {
        return Ok(RefreshOutcome::NotNeeded);
    }
    let answer = request_tokens(&mut tx, ctx, &c, &grant).await?;
    let outcome = apply(&mut tx, ctx, &mut c, &grant, answer, now).await?;
    store::save_state(&mut tx, &c).await?;
    if outcome == RefreshOutcome::Disconnected {
        ctx.commit_change(tx, &c, Change::Disconnected { code: "refresh_failed".into() }).await?;
    } else {
        ctx.commit(tx, id).await?;
    }
    if outcome != RefreshOutcome::Refreshed {
        let error = c.refresh.last_error.as_deref().or(c.status_reason.as_ref().map(|r| r.message.as_str()));
        tracing::warn!(connector_id = %id, ?outcome, error, "token refresh did not succeed");
    }
    Ok(outcome)
}

/// Whether the refresh is still needed, read under the row lock: the schedule still says
/// so, or the token the caller saw rejected is still the stored one.
async fn still_needed(
    tx: &mut PgConnection,
    keyring: &Keyring,
    c: &Connector,
    trigger: Trigger<'_>,
    now: DateTime<Utc>,
) -> Result<bool> {
    Ok(match trigger {
        Trigger::Due => c.refresh.next_refresh_at.is_some_and(|t| t <= now),
        Trigger::Rejected(seen) => open_secret(&mut *tx, keyring, c, SecretField::AccessToken)
            .await?
            .is_some_and(|current| current.expose_secret() == seen.expose_secret()),
    })
}

/// Asks the authorization server for new tokens: a new client credentials grant, or the
/// refresh token. Every read uses the transaction's connection: a refresh holds exactly one.
async fn request_tokens(
    tx: &mut PgConnection,
    ctx: &Context,
    c: &Connector,
    grant: &OAuthGrant,
) -> Result<std::result::Result<Tokens, GrantError>> {
    let client = client_credentials_of(&mut *tx, &ctx.keyring, c, &grant.client).await?;
    if tokens::uses_client_credentials(c) {
        return Ok(grant::client_credentials(
            &ctx.net,
            &client,
            &grant.token_url,
            &grant.scopes,
            Some(&grant.resource),
        )
        .await);
    }
    Ok(match open_secret(&mut *tx, &ctx.keyring, c, SecretField::RefreshToken).await? {
        Some(refresh_token) => {
            grant::refresh(&ctx.net, &client, &grant.token_url, &refresh_token, &grant.resource).await
        }
        None => Err(GrantError::OAuth {
            error: "invalid_grant".into(),
            description: Some("no refresh token was issued; connect again".into()),
        }),
    })
}

/// What a failed refresh means for the grant.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    /// `invalid_grant`: the tokens are dead.
    GrantDead,
    /// The client was rejected: its registration (if ours) is dropped too.
    ClientRejected,
    /// Anything else: keep the tokens, retry with backoff.
    Transient,
}

fn verdict(err: &GrantError) -> Verdict {
    match err.oauth_error() {
        Some("invalid_grant") => Verdict::GrantDead,
        Some("invalid_client" | "unauthorized_client") => Verdict::ClientRejected,
        _ => Verdict::Transient,
    }
}

/// Applies the authorization server's answer to the connector (inside the transaction).
async fn apply(
    tx: &mut PgConnection,
    ctx: &Context,
    c: &mut Connector,
    grant: &OAuthGrant,
    answer: std::result::Result<Tokens, GrantError>,
    now: DateTime<Utc>,
) -> Result<RefreshOutcome> {
    let err = match answer {
        Ok(new_tokens) => {
            tokens::store(tx, &ctx.keyring, ctx.settings.refresh, c, &new_tokens, RefreshTokenAbsent::Keep)
                .await?;
            return Ok(RefreshOutcome::Refreshed);
        }
        Err(err) => err,
    };
    let message = match verdict(&err) {
        Verdict::Transient => {
            c.refresh.attempts += 1;
            c.refresh.last_error = Some(err.to_string());
            c.refresh.next_refresh_at = Some(tokens::retry_at(now, c.refresh.attempts));
            return Ok(RefreshOutcome::Retrying);
        }
        Verdict::GrantDead => format!("the authorization server refused the refresh: {err}"),
        Verdict::ClientRejected => {
            // A bad registration: drop it so the next connect registers afresh.
            if let OAuthClientRef::Registered { id: registration, .. } = &grant.client {
                oauth_store::delete_client(&mut *tx, c.tenant_id, *registration).await?;
            }
            format!("the authorization server rejected the client: {err}; connect again")
        }
    };
    tokens::erase(tx, c).await?;
    c.mark_disconnected("refresh_failed", message);
    Ok(RefreshOutcome::Disconnected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_dead_grant_or_a_rejected_client_ends_the_connection() {
        let oauth = |error: &str| GrantError::OAuth { error: error.into(), description: None };
        assert_eq!(verdict(&oauth("invalid_grant")), Verdict::GrantDead);
        assert_eq!(verdict(&oauth("invalid_client")), Verdict::ClientRejected);
        assert_eq!(verdict(&oauth("unauthorized_client")), Verdict::ClientRejected);
        assert_eq!(verdict(&oauth("temporarily_unavailable")), Verdict::Transient);
        assert_eq!(verdict(&GrantError::Transport("down".into())), Verdict::Transient);
    }
}
