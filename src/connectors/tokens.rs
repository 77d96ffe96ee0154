//! Storing and erasing a connector's OAuth tokens, and scheduling their next refresh.

use chrono::{DateTime, Utc};
use rand::Rng as _;
use sqlx::PgConnection;

use super::model::{AuthSettings, Connector, RefreshState, SecretField};
use super::store;
use crate::config::RefreshPolicy;
use crate::error::Result;
use crate::oauth::grant::Tokens;
use crate::platform::crypto::Keyring;

/// What to do with the stored refresh token when a token response carries none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshTokenAbsent {
    /// A new grant without a refresh token: any old one belongs to a previous grant.
    Erase,
    /// A refresh that did not rotate: the old refresh token stays valid (RFC 6749 §6).
    Keep,
}

/// Seals and stores tokens and schedules the next refresh. Call inside the transaction that
/// also saves the connector, so tokens, expiry and schedule change together.
pub async fn store(
    tx: &mut PgConnection,
    keyring: &Keyring,
    policy: RefreshPolicy,
    connector: &mut Connector,
    tokens: &Tokens,
    absent: RefreshTokenAbsent,
) -> Result<()> {
    let (tenant, id) = (connector.tenant_id, connector.id);
    let access = keyring.seal_str(&tokens.access_token, &SecretField::AccessToken.aad(tenant, id));
    store::put_secret(tx, tenant, id, SecretField::AccessToken, &access).await?;
    connector.note_secret(SecretField::AccessToken);
    match (&tokens.refresh_token, absent) {
        (Some(refresh), _) => {
            let sealed = keyring.seal_str(refresh, &SecretField::RefreshToken.aad(tenant, id));
            store::put_secret(tx, tenant, id, SecretField::RefreshToken, &sealed).await?;
            connector.note_secret(SecretField::RefreshToken);
        }
        (None, RefreshTokenAbsent::Erase) => {
            store::delete_secrets(tx, id, &[SecretField::RefreshToken]).await?;
            connector.secret_fields.retain(|f| *f != SecretField::RefreshToken);
        }
        (None, RefreshTokenAbsent::Keep) => {}
    }
    let now = Utc::now();
    connector.token_expires_at = tokens.expires_at;
    let renewable = connector.has_secret(SecretField::RefreshToken);
    connector.refresh = RefreshState {
        next_refresh_at: next_refresh_at(now, tokens.expires_at, policy, renewable),
        last_refreshed_at: Some(now),
        attempts: 0,
        last_error: None,
    };
    Ok(())
}

/// Erases the tokens and the refresh schedule.
pub async fn erase(tx: &mut PgConnection, connector: &mut Connector) -> Result<()> {
    store::delete_secrets(tx, connector.id, &[SecretField::AccessToken, SecretField::RefreshToken]).await?;
    connector.secret_fields.retain(|f| !matches!(f, SecretField::AccessToken | SecretField::RefreshToken));
    connector.token_expires_at = None;
    connector.refresh = RefreshState::default();
    Ok(())
}

/// When to refresh: `lead` before expiry, but never earlier than half the token's lifetime
/// (so short-lived tokens are not refreshed in a loop); and, for grants with a refresh
/// token, at least every `keepalive` so idle grants are not revoked for inactivity.
pub fn next_refresh_at(
    now: DateTime<Utc>,
    expires_at: Option<DateTime<Utc>>,
    policy: RefreshPolicy,
    has_refresh_token: bool,
) -> Option<DateTime<Utc>> {
    let by_expiry = expires_at.map(|expiry| {
        let lifetime = (expiry - now).max(chrono::Duration::zero());
        let lead = chrono::Duration::from_std(policy.lead).unwrap_or(chrono::Duration::MAX).min(lifetime / 2);
        expiry - lead
    });
    let keepalive = policy
        .keepalive
        .filter(|_| has_refresh_token)
        .and_then(|k| chrono::Duration::from_std(k).ok())
        .map(|k| now + k);
    [by_expiry, keepalive].into_iter().flatten().min()
}

/// Exponential backoff with ±20% jitter: 5 s, 10 s, 20 s, ... capped at 10 minutes.
pub fn retry_at(now: DateTime<Utc>, attempts: i32) -> DateTime<Utc> {
    let base = 5.0 * 2f64.powi(attempts.clamp(1, 20) - 1);
    let jittered = base.min(600.0) * rand::rng().random_range(0.8..1.2);
    now + chrono::Duration::milliseconds((jittered * 1000.0) as i64)
}

/// Whether tokens of this connector come from the client credentials grant (renewed by a new
/// grant) rather than from a refresh token.
pub fn uses_client_credentials(connector: &Connector) -> bool {
    matches!(connector.auth, Some(AuthSettings::Oauth2ClientCredentials(_)))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn policy(lead: u64, keepalive: Option<u64>) -> RefreshPolicy {
        RefreshPolicy { lead: Duration::from_secs(lead), keepalive: keepalive.map(Duration::from_secs) }
    }

    #[test]
    fn refresh_is_scheduled_lead_before_expiry_capped_at_half_the_lifetime() {
        let now = Utc::now();
        let hour = now + chrono::Duration::hours(1);
        assert_eq!(
            next_refresh_at(now, Some(hour), policy(300, None), true),
            Some(hour - chrono::Duration::minutes(5))
        );
        let short = now + chrono::Duration::seconds(60);
        assert_eq!(
            next_refresh_at(now, Some(short), policy(300, None), true),
            Some(now + chrono::Duration::seconds(30))
        );
        assert_eq!(next_refresh_at(now, None, policy(300, None), true), None);
    }

    #[test]
    fn keepalive_applies_only_to_grants_with_a_refresh_token() {
        let now = Utc::now();
        let day = now + chrono::Duration::days(30);
        let keep = next_refresh_at(now, Some(day), policy(300, Some(3600)), true);
        assert_eq!(keep, Some(now + chrono::Duration::hours(1)));
        assert_eq!(
            next_refresh_at(now, None, policy(300, Some(3600)), true),
            Some(now + chrono::Duration::hours(1))
        );
        assert_eq!(next_refresh_at(now, None, policy(300, Some(3600)), false), None);
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let now = Utc::now();
        let secs = |a| (retry_at(now, a) - now).num_milliseconds() as f64 / 1000.0;
        assert!((4.0..=6.0).contains(&secs(1)));
        assert!((8.0..=12.0).contains(&secs(2)));
        assert!((480.0..=720.0).contains(&secs(30)));
    }
}
