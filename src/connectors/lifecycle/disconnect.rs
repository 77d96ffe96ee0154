//! Ending a connection: on request (tokens revoked at the AS, best effort, and erased), when
//! the upstream rejects a static credential in use, and when a pending authorization's window
//! passes (the worker). Each is announced with the reason's code.

use uuid::Uuid;

use super::{client_credentials_of, reread};
use crate::connectors::events::Change;
use crate::connectors::model::{Connector, SecretField, Status};
use crate::connectors::service::{get, open_secret};
use crate::connectors::{Context, store};
use crate::error::{Error, Result};
use crate::oauth::grant;
use crate::oauth::store as oauth_store;

/// Pending authorizations expired per statement.
const EXPIRY_BATCH: i64 = 1000;

/// Revokes (best effort), erases tokens, and marks the connector disconnected on request.
pub async fn disconnect(ctx: &Context, tenant_id: Uuid, id: Uuid) -> Result<Connector> {
    let mut connector = get(&ctx.db, tenant_id, id).await?;
    if connector.status == Status::Created {
        return Err(Error::conflict("not_connected", "this connector was never connected"));
    }
    revoke_tokens(ctx, &connector).await;
    connector.mark_disconnected("user_requested", "disconnected on request");
    let mut tx = ctx.db.begin().await?;
    store::delete_secrets(&mut tx, connector.id, &[SecretField::AccessToken, SecretField::RefreshToken])
        .await?;
    oauth_store::delete_states_of(&mut tx, connector.id).await?;
    store::save_state(&mut tx, &connector).await?;
    ctx.commit_change(tx, &connector, Change::Disconnected { code: "user_requested".into() }).await?;
    reread(ctx, &connector).await
}

/// RFC 7009, refresh token first (revoking it usually ends the whole grant). Failures are
/// logged and otherwise ignored: the tokens are erased on our side either way.
pub async fn revoke_tokens(ctx: &Context, connector: &Connector) {
    let Some(grant) = &connector.oauth_grant else { return };
    let Some(revocation_url) = &grant.revocation_url else { return };
    let client = match client_credentials_of(&ctx.db, &ctx.keyring, connector, &grant.client).await {
        Ok(client) => client,
        Err(err) => {
            tracing::warn!(connector_id = %connector.id, error = %err, "cannot revoke: client credentials unavailable");
            return;
        }
    };
    for (field, hint) in
        [(SecretField::RefreshToken, "refresh_token"), (SecretField::AccessToken, "access_token")]
    {
        let Ok(Some(token)) = open_secret(&ctx.db, &ctx.keyring, connector, field).await else {
            continue;
        };
        if let Err(err) = grant::revoke(&ctx.net, &client, revocation_url, &token, hint).await {
            tracing::warn!(connector_id = %connector.id, error = %err, "token revocation failed");
        }
    }
}

/// The upstream rejected a static credential in use: disconnect, so consoles show why.
pub async fn reject_credentials(ctx: &Context, tenant_id: Uuid, id: Uuid) -> Result<()> {
    let message = "the upstream rejected the configured credentials (HTTP 401)";
    disconnect_refused(ctx, tenant_id, id, "credentials_rejected", message).await
}

/// A connected connector the upstream will no longer serve with what it holds becomes
/// `disconnected` with `code` (a rejected credential, an authorization server that changed).
pub async fn disconnect_refused(
    ctx: &Context,
    tenant_id: Uuid,
    id: Uuid,
    code: &str,
    message: &str,
) -> Result<()> {
    let mut tx = ctx.db.begin().await?;
    let Some(mut connector) = store::get_for_update(&mut tx, tenant_id, id).await? else { return Ok(()) };
    if connector.status != Status::Connected {
        return ctx.commit(tx, id).await;
    }
    connector.mark_disconnected(code, message);
    store::save_state(&mut tx, &connector).await?;
    ctx.commit_change(tx, &connector, Change::Disconnected { code: code.into() }).await?;
    Ok(())
}

/// Pending authorizations past their window become `disconnected`/`authorization_expired`
/// (a few statements, `FOR UPDATE SKIP LOCKED`), their state records and stale ones go.
/// Returns how many expired.
pub async fn expire_overdue(ctx: &Context) -> Result<usize> {
    let window = humantime::format_duration(ctx.settings.authorization_ttl);
    let message = format!("authorization was not completed within {window}; connect again");
    let mut tx = ctx.db.begin().await?;
    let expired = store::expire_pending_authorizations(&mut tx, &message, EXPIRY_BATCH).await?;
    let ids: Vec<Uuid> = expired.iter().map(|&(_, id)| id).collect();
    oauth_store::delete_states_of_or_expired(&mut tx, &ids).await?;
    tx.commit().await?;
    for &(tenant_id, id) in &expired {
        ctx.forget(id);
        ctx.events.publish(tenant_id, id, Change::Disconnected { code: "authorization_expired".into() });
    }
    Ok(expired.len())
}
