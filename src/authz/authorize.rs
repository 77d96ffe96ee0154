//! The authorization endpoint (RFC 6749 §4.1 with PKCE, OAuth 2.1): check the request, keep
//! it pending while a person looks at the consent page, let a gateway key of that gateway sign
//! them in ([`sign_in`]: one function, so a tenant's own identity provider can later take its
//! place), and on approval mint a single-use code for the redirect (with `iss`, RFC 9207).
//!
//! Errors follow RFC 6749 §4.1.2.1: while the client or its redirect URI is unknown, nothing
//! is sent anywhere ([`Stop::Page`]); after that, the client is told by redirect.

use chrono::Utc;
use sha2::{Digest, Sha256};
use url::Url;
use uuid::Uuid;

use super::metadata::{issuer, slug_of_resource};
use super::store::{self, NewGrant, Pending, SignedIn};
use super::{CODE_TTL, Context, PENDING_TTL, Refusal, clients};
use crate::gateway::scopes::Scopes;
use crate::gateway::{keys, service};
use crate::platform::crypto::{generate_key, hash_api_key};

/// Prefixes of what this server mints: codes, and the CSRF tokens of its forms.
const CODE_PREFIX: &str = "oac_";
const CSRF_PREFIX: &str = "ocs_";

/// The query of an authorization request.
#[derive(Debug, Default, serde::Deserialize)]
pub struct AuthorizeRequest {
    pub response_type: Option<String>,
    pub client_id: Option<String>,
    pub redirect_uri: Option<String>,
    pub state: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub scope: Option<String>,
    pub resource: Option<String>,
}

/// Why the flow stops: shown on a page (no trusted redirect URI yet), or sent back to the
/// client on its redirect URI.
#[derive(Debug)]
pub enum Stop {
    Page(Refusal),
    Redirect(Url),
}

impl From<sqlx::Error> for Stop {
    fn from(err: sqlx::Error) -> Self {
        Self::Page(err.into())
    }
}

/// What the consent page shows, with the single-use token its form must send back.
#[derive(Debug)]
pub struct Prompt {
    pub csrf: String,
    pub pending: Pending,
    /// Once signed in: the gateway's name.
    pub gateway_name: Option<String>,
    /// Why the last sign-in failed.
    pub error: Option<&'static str>,
}

/// A refusal sent to `redirect_uri` (RFC 6749 §4.1.2.1, with `iss`, RFC 9207).
pub fn error_redirect(ctx: &Context, redirect_uri: &str, state: Option<&str>, refusal: &Refusal) -> Stop {
    let Ok(mut url) = Url::parse(redirect_uri) else {
        return Stop::Page(Refusal::new("invalid_request", "bad redirect_uri"));
    };
    {
        let mut query = url.query_pairs_mut();
        if let Refusal::OAuth { error, description } = refusal {
            query.append_pair("error", error).append_pair("error_description", description);
        } else {
            query.append_pair("error", "server_error");
        }
        if let Some(state) = state {
            query.append_pair("state", state);
        }
        query.append_pair("iss", &issuer(&ctx.settings));
    }
    Stop::Redirect(url)
}

/// Checks an authorization request and keeps it pending for the consent page.
pub async fn begin(ctx: &Context, req: AuthorizeRequest) -> Result<Prompt, Stop> {
    let client_id = req
        .client_id
        .as_deref()
        .ok_or_else(|| Stop::Page(Refusal::new("invalid_request", "client_id is missing")))?;
    let client = clients::resolve(ctx, client_id).await.map_err(Stop::Page)?;
    let redirect_uri = match req.redirect_uri.as_deref() {
        Some(uri) if client.redirect_uris.iter().any(|r| r == uri) => uri.to_owned(),
        None if client.redirect_uris.len() == 1 => client.redirect_uris[0].clone(),
        _ => {
            return Err(Stop::Page(Refusal::new(
                "invalid_request",
                "redirect_uri is not one the client registered",
            )));
        }
    };
    let state = req.state.as_deref();
    let refuse = |error, why: &str| error_redirect(ctx, &redirect_uri, state, &Refusal::new(error, why));
    if req.response_type.as_deref() != Some("code") {
        return Err(refuse("unsupported_response_type", "only response_type=code"));
    }
    let challenge = req.code_challenge.as_deref().unwrap_or_default();
    if req.code_challenge_method.as_deref() != Some("S256") || !is_pkce_value(challenge) {
        return Err(refuse(
            "invalid_request",
            "PKCE is required: code_challenge with code_challenge_method=S256",
        ));
    }
    let resource = req.resource.as_deref().unwrap_or_default();
    let Some(slug) = slug_of_resource(&ctx.settings, resource) else {
        return Err(refuse("invalid_target", "resource must be the MCP URL of a gateway of this server"));
    };
    let scopes = match req.scope.as_deref().map(str::split_whitespace) {
        None => Scopes::DEFAULT,
        Some(names) => match Scopes::parse(names) {
            Ok(s) if s.is_empty() => Scopes::DEFAULT,
            Ok(s) => s,
            Err(_) => return Err(refuse("invalid_scope", "scopes are mcp:read, mcp:write and mcp:admin")),
        },
    };
    let pending = Pending {
        id: Uuid::now_v7(),
        client_id: client.client_id,
        client_name: client.client_name,
        redirect_uri,
        state: req.state,
        code_challenge: challenge.to_owned(),
        resource: resource.to_owned(),
        slug,
        scopes: scopes.names(),
        expires_at: Utc::now() + PENDING_TTL,
        signed_in: SignedIn::default(),
    };
    let csrf = generate_key(CSRF_PREFIX);
    store::insert_pending(&ctx.db, &pending, &csrf.hash).await?;
    Ok(Prompt {
        csrf: secrecy::ExposeSecret::expose_secret(&csrf.secret).to_owned(),
        pending,
        gateway_name: None,
        error: None,
    })
}

/// RFC 7636 §4.1–4.2: 43 to 128 unreserved characters (a verifier, or an S256 challenge).
pub fn is_pkce_value(s: &str) -> bool {
    (43..=128).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}

/// The person behind a sign-in, and what they may grant.
pub struct Person {
    pub tenant_id: Uuid,
    pub gateway_id: Uuid,
    pub gateway_name: String,
    pub key_id: Uuid,
    pub scopes: Scopes,
}

/// The sign-in step: the person proves they may use gateway `slug` by pasting one of its
/// keys. The one place to swap for a tenant's identity provider.
pub async fn sign_in(ctx: &Context, slug: &str, credential: &str) -> Result<Person, &'static str> {
    const NOT_THIS: &str = "that is not an active key of this gateway";
    let active =
        keys::authenticate(&ctx.db, &ctx.gateway_keys, credential.trim()).await.map_err(|_| NOT_THIS)?;
    let key = &active.key;
    let gateway = service::get(&ctx.db, key.tenant_id, key.gateway_id).await.map_err(|_| NOT_THIS)?;
    if gateway.slug != slug {
        return Err(NOT_THIS);
    }
    Ok(Person {
        tenant_id: gateway.tenant_id,
        gateway_id: gateway.id,
        gateway_name: gateway.name,
        key_id: key.id,
        scopes: key.active_scopes(),
    })
}

fn expired() -> Stop {
    Stop::Page(Refusal::new(
        "invalid_request",
        "this consent form expired or was already used; start again from the client",
    ))
}

/// The sign-in form was sent: on success the page becomes the consent page, with the scopes
/// approval would grant; either way the form's token is spent and a new one issued.
pub async fn submit_sign_in(ctx: &Context, csrf: &str, credential: &str) -> Result<Prompt, Stop> {
    let old = hash_api_key(csrf);
    let pending = store::find_pending(&ctx.db, &old).await?.ok_or_else(expired)?;
    let asked = Scopes::parse(pending.scopes.iter().map(String::as_str)).unwrap_or_default();
    let outcome = match sign_in(ctx, &pending.slug, credential).await {
        Ok(person) if asked.intersection(person.scopes).is_empty() => {
            Err("that key holds none of the scopes asked for")
        }
        other => other,
    };
    let signed_in = outcome.as_ref().ok().map(|p| SignedIn {
        tenant_id: Some(p.tenant_id),
        gateway_id: Some(p.gateway_id),
        gateway_key_id: Some(p.key_id),
        granted: Some(asked.intersection(p.scopes).names()),
    });
    let new = generate_key(CSRF_PREFIX);
    let pending =
        store::rotate_pending(&ctx.db, &old, &new.hash, signed_in.as_ref()).await?.ok_or_else(expired)?;
    Ok(Prompt {
        csrf: secrecy::ExposeSecret::expose_secret(&new.secret).to_owned(),
        pending,
        gateway_name: outcome.as_ref().ok().map(|p| p.gateway_name.clone()),
        error: outcome.err(),
    })
}

/// The person approved or denied: either way the request ends, and the client hears of it
/// on its redirect URI (a code, or `access_denied`).
pub async fn decide(ctx: &Context, csrf: &str, approve: bool) -> Result<Url, Stop> {
    let pending = store::take_pending(&ctx.db, &hash_api_key(csrf)).await?.ok_or_else(expired)?;
    let deny = |why: &str| {
        error_redirect(
            ctx,
            &pending.redirect_uri,
            pending.state.as_deref(),
            &Refusal::new("access_denied", why),
        )
    };
    let s = &pending.signed_in;
    let (Some(tenant_id), Some(gateway_id), Some(gateway_key_id), Some(granted)) =
        (s.tenant_id, s.gateway_id, s.gateway_key_id, s.granted.as_ref())
    else {
        return Err(deny(if approve { "nobody signed in" } else { "the person denied access" }));
    };
    if !approve {
        return Err(deny("the person denied access"));
    }
    let code = generate_key(CODE_PREFIX);
    let grant = NewGrant {
        id: Uuid::now_v7(),
        tenant_id,
        gateway_id,
        gateway_key_id,
        scopes: granted,
        pending: &pending,
        code_hash: &code.hash,
        code_expires_at: Utc::now() + CODE_TTL,
    };
    store::insert_grant(&ctx.db, &grant).await?;
    let mut url = Url::parse(&pending.redirect_uri).map_err(|_| expired())?;
    {
        let mut query = url.query_pairs_mut();
        query.append_pair("code", secrecy::ExposeSecret::expose_secret(&code.secret));
        if let Some(state) = &pending.state {
            query.append_pair("state", state);
        }
        query.append_pair("iss", &issuer(&ctx.settings));
    }
    Ok(url)
}

/// RFC 7636 §4.6: BASE64URL(SHA256(verifier)) == challenge. Via the `oauth2` crate's PKCE type.
pub fn pkce_matches(verifier: &str, challenge: &str) -> bool {
    let verifier = oauth2::PkceCodeVerifier::new(verifier.to_owned());
    let computed = oauth2::PkceCodeChallenge::from_code_verifier_sha256(&verifier);
    let (a, b) = (Sha256::digest(computed.as_str()), Sha256::digest(challenge));
    a == b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_is_checked_as_rfc_7636_appendix_b_says() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(is_pkce_value(verifier) && is_pkce_value(challenge));
        assert!(pkce_matches(verifier, challenge));
        assert!(!pkce_matches("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXj", challenge));
        assert!(
            !is_pkce_value("short") && !is_pkce_value(&"a".repeat(129)) && !is_pkce_value(&"+".repeat(43))
        );
    }
}
