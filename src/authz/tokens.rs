//! The token endpoint (RFC 6749 §4.1.3, §6; OAuth 2.1 §4.3.1), revocation (RFC 7009), and the
//! check the gateway endpoint makes of an access token. Tokens are opaque random strings kept
//! only as SHA-256, like keys (decision 0063): an access token lives `oauth_access_ttl`; a
//! refresh token is used once and replaced, and presenting a spent one again (someone else
//! holds a copy) revokes the whole grant; so does a second use of an authorization code.

use chrono::Utc;
use oauth2::basic::BasicTokenType;
use oauth2::{AccessToken, EmptyExtraTokenFields, RefreshToken, Scope, StandardTokenResponse};

use super::authorize::{is_pkce_value, pkce_matches};
use super::store::{self, Access, CodeUse, Grant, Kind, NewToken};
use super::{Context, Outcome, PURGE_GRACE, REFRESH_TTL, Refusal};
use crate::error::{Error, Result};
use crate::platform::crypto::{generate_key, hash_api_key};
use crate::platform::db::purge_in_batches;

const ACCESS_PREFIX: &str = "oat_";
const REFRESH_PREFIX: &str = "ort_";

/// A token response (RFC 6749 §5.1), as the `oauth2` crate models it.
pub type TokenResponse = StandardTokenResponse<EmptyExtraTokenFields, BasicTokenType>;

/// The form of a token request; which fields matter depends on `grant_type`.
#[derive(Debug, Default, serde::Deserialize)]
pub struct TokenRequest {
    pub grant_type: Option<String>,
    pub code: Option<String>,
    pub redirect_uri: Option<String>,
    pub code_verifier: Option<String>,
    pub client_id: Option<String>,
    pub refresh_token: Option<String>,
    pub resource: Option<String>,
    /// On a refresh, a narrower scope for the new access token (RFC 6749 §6).
    pub scope: Option<String>,
}

fn missing(field: &str) -> Refusal {
    Refusal::new("invalid_request", format!("{field} is missing"))
}

pub async fn exchange(ctx: &Context, req: TokenRequest) -> Outcome<TokenResponse> {
    match req.grant_type.as_deref() {
        Some("authorization_code") => exchange_code(ctx, &req).await,
        Some("refresh_token") => refresh(ctx, &req).await,
        Some(_) => Err(Refusal::new("unsupported_grant_type", "use authorization_code or refresh_token")),
        None => Err(missing("grant_type")),
    }
}

/// A `resource` sent to the token endpoint must be the one the grant is for (RFC 8707 §2.2).
fn check_resource(req: &TokenRequest, grant: &Grant) -> Outcome<()> {
    match req.resource.as_deref() {
        Some(r) if r.trim_end_matches('/') != grant.resource.trim_end_matches('/') => {
            Err(Refusal::new("invalid_target", "this grant is for another resource"))
        }
        _ => Ok(()),
    }
}

async fn exchange_code(ctx: &Context, req: &TokenRequest) -> Outcome<TokenResponse> {
    let code = req.code.as_deref().ok_or_else(|| missing("code"))?;
    let verifier = req.code_verifier.as_deref().ok_or_else(|| missing("code_verifier"))?;
    let client_id = req.client_id.as_deref().ok_or_else(|| missing("client_id"))?;
    let grant = match store::use_code(&ctx.db, &hash_api_key(code)).await? {
        CodeUse::First(grant) => grant,
        CodeUse::Again => {
            return Err(Refusal::new(
                "invalid_grant",
                "the code was used before; the tokens issued from it are revoked",
            ));
        }
        CodeUse::Unknown => return Err(Refusal::new("invalid_grant", "unknown, expired or revoked code")),
    };
    let invalid = |why: &str| Err(Refusal::new("invalid_grant", why));
    if grant.code_expires_at <= Utc::now() {
        return invalid("the code expired");
    }
    if grant.client_id != client_id {
        return invalid("the code was issued to another client");
    }
    if req.redirect_uri.as_deref().is_some_and(|uri| uri != grant.redirect_uri) {
        return invalid("redirect_uri is not the one of the authorization request");
    }
    if !is_pkce_value(verifier) || !pkce_matches(verifier, &grant.code_challenge) {
        return invalid("code_verifier does not match the code_challenge");
    }
    check_resource(req, &grant)?;
    issue(ctx, &grant, None).await
}

/// The scopes a refresh asks for, if it narrows them: each must be one of the grant's (RFC
/// 6749 §6), kept in the grant's order. Checked before the refresh token is spent, so a
/// refused request leaves it usable.
async fn narrowed(ctx: &Context, req: &TokenRequest, hash: &[u8]) -> Outcome<Option<Vec<String>>> {
    let Some(scope) = req.scope.as_deref() else { return Ok(None) };
    // An unknown or spent token is answered by `use_refresh`, which also catches replays.
    let Some(granted) = store::refresh_scopes(&ctx.db, hash).await? else { return Ok(None) };
    let asked: Vec<&str> = scope.split_whitespace().collect();
    if asked.is_empty() || asked.iter().any(|s| !granted.iter().any(|g| g == s)) {
        return Err(Refusal::new("invalid_scope", "scope must be some of the scopes granted"));
    }
    Ok(Some(granted.into_iter().filter(|g| asked.contains(&g.as_str())).collect()))
}

async fn refresh(ctx: &Context, req: &TokenRequest) -> Outcome<TokenResponse> {
    let token = req.refresh_token.as_deref().ok_or_else(|| missing("refresh_token"))?;
    let hash = hash_api_key(token);
    let scopes = narrowed(ctx, req, &hash).await?;
    let grant = match store::use_refresh(&ctx.db, &hash).await? {
        CodeUse::First(grant) => grant,
        CodeUse::Again => {
            return Err(Refusal::new(
                "invalid_grant",
                "the refresh token was used before; the grant is revoked",
            ));
        }
        CodeUse::Unknown => {
            return Err(Refusal::new("invalid_grant", "unknown, expired or revoked refresh token"));
        }
    };
    if req.client_id.as_deref().is_some_and(|id| id != grant.client_id) {
        return Err(Refusal::new("invalid_grant", "the refresh token was issued to another client"));
    }
    check_resource(req, &grant)?;
    issue(ctx, &grant, scopes.as_deref()).await
}

/// A new access token, with `narrowed` scopes or else the grant's, and a refresh token, which
/// keeps the grant's: a later refresh may ask for any of them again (RFC 6749 §6).
async fn issue(ctx: &Context, grant: &Grant, narrowed: Option<&[String]>) -> Outcome<TokenResponse> {
    let ttl = ctx.settings.oauth_access_ttl;
    let now = Utc::now();
    let access = generate_key(ACCESS_PREFIX);
    let refresh = generate_key(REFRESH_PREFIX);
    let access_until = now + chrono::Duration::from_std(ttl).map_err(|e| Error::Internal(e.into()))?;
    let token =
        |kind, hash, expires_at, scopes| NewToken { grant_id: grant.id, kind, hash, expires_at, scopes };
    store::insert_token(&ctx.db, &token(Kind::Access, &access.hash, access_until, narrowed)).await?;
    store::insert_token(&ctx.db, &token(Kind::Refresh, &refresh.hash, now + REFRESH_TTL, None)).await?;
    let secret = |s: &secrecy::SecretString| secrecy::ExposeSecret::expose_secret(s).to_owned();
    let mut response = TokenResponse::new(
        AccessToken::new(secret(&access.secret)),
        BasicTokenType::Bearer,
        EmptyExtraTokenFields {},
    );
    response.set_expires_in(Some(&ttl));
    response.set_refresh_token(Some(RefreshToken::new(secret(&refresh.secret))));
    let scopes = narrowed.unwrap_or(&grant.scopes);
    response.set_scopes(Some(scopes.iter().cloned().map(Scope::new).collect()));
    Ok(response)
}

/// Deletes tokens and grants finished more than [`PURGE_GRACE`] ago (the worker's pass);
/// tokens first, so grants left without any go in the same pass. Returns the rows deleted.
pub async fn purge(db: &sqlx::PgPool) -> Result<u64> {
    let days = (PURGE_GRACE.as_secs() / 86_400) as i32;
    let tokens = purge_in_batches(|batch| store::purge_tokens(db, days, batch)).await?;
    Ok(tokens + purge_in_batches(|batch| store::purge_grants(db, days, batch)).await?)
}

/// RFC 7009: revokes the grant of `token` (access or refresh), if it was issued to
/// `client_id`. Unknown tokens are not an error (§2.2).
pub async fn revoke(ctx: &Context, token: &str, client_id: Option<&str>) -> Result<()> {
    Ok(store::revoke_by_token(&ctx.db, &hash_api_key(token), client_id).await?)
}

/// Whether `token` looks like one of our access tokens (rather than a key).
pub fn is_access_token(token: &str) -> bool {
    token.starts_with(ACCESS_PREFIX)
}

/// What a live access token opens: unexpired, its grant not revoked, its key active.
pub async fn authenticate(ctx: &Context, token: &str) -> Result<Access> {
    const DEAD: Error = Error::Unauthenticated("unknown, expired or revoked access token");
    if !is_access_token(token) {
        return Err(DEAD);
    }
    store::find_access(&ctx.db, &hash_api_key(token)).await?.ok_or(DEAD)
}

/// A gateway's live grants, for the REST API.
pub async fn list_grants(db: &sqlx::PgPool, gateway_id: uuid::Uuid) -> Result<Vec<store::GrantView>> {
    Ok(store::list_grants(db, gateway_id).await?)
}

/// Revokes one grant of a gateway, and with it its tokens.
pub async fn revoke_grant(db: &sqlx::PgPool, gateway_id: uuid::Uuid, id: uuid::Uuid) -> Result<()> {
    match store::revoke_grant(db, gateway_id, id).await? {
        true => Ok(()),
        false => Err(Error::NotFound("OAuth grant")),
    }
}
