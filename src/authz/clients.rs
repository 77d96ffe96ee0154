//! Who the clients are. Two ways to be one: Dynamic Client Registration (RFC 7591; stored,
//! rate-limited per source), or a Client ID Metadata Document (the client_id is an https URL
//! of a JSON document naming the client and its redirect URIs; fetched through the guarded
//! client, capped, cached for a while). Every client is public: PKCE binds its codes.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde::{Deserialize, Serialize};
use url::Url;
use uuid::Uuid;

use super::store::{self, ClientRow};
use super::{Context, Outcome, Refusal};
use crate::error::Error;

/// Registrations one source may make per hour.
pub const REGISTRATIONS_PER_HOUR: i64 = 20;
const MAX_REDIRECT_URIS: usize = 10;
const MAX_CLIENT_NAME: usize = 200;
const MAX_URI: usize = 2000;
/// Largest metadata document read, and how long its fetch may take and it is kept.
const MAX_DOCUMENT: usize = 16 * 1024;
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
const DOCUMENT_TTL: Duration = Duration::from_secs(300);
const MAX_CACHED: usize = 1000;

/// A registration request (RFC 7591 §2); fields we do not use are ignored.
#[derive(Debug, Default, Deserialize)]
pub struct ClientMetadata {
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    pub client_name: Option<String>,
    pub client_id: Option<String>,
    pub token_endpoint_auth_method: Option<String>,
    pub grant_types: Option<Vec<String>>,
    pub response_types: Option<Vec<String>>,
}

/// The registration as granted (RFC 7591 §3.2.1): always a public client.
#[derive(Debug, Serialize)]
pub struct Registered {
    pub client_id: String,
    pub client_id_issued_at: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_name: Option<String>,
    pub redirect_uris: Vec<String>,
    pub grant_types: [&'static str; 2],
    pub response_types: [&'static str; 1],
    pub token_endpoint_auth_method: &'static str,
}

/// A redirect URI we send codes to: https, or http to a loopback address (native apps,
/// RFC 8252 §7.3), never with a fragment.
pub fn redirect_uri_allowed(uri: &str) -> bool {
    let Ok(url) = Url::parse(uri) else { return false };
    let loopback = matches!(url.host_str(), Some("127.0.0.1" | "[::1]" | "localhost"));
    uri.len() <= MAX_URI
        && url.fragment().is_none()
        && url.host_str().is_some()
        && (url.scheme() == "https" || (url.scheme() == "http" && loopback))
}

/// Checks what a client says about itself (registered or in its document).
fn check_metadata(meta: &ClientMetadata) -> Outcome<()> {
    let invalid = |why: &str| Err(Refusal::new("invalid_client_metadata", why));
    if meta.redirect_uris.is_empty() || meta.redirect_uris.len() > MAX_REDIRECT_URIS {
        return invalid("name 1 to 10 redirect_uris");
    }
    if let Some(bad) = meta.redirect_uris.iter().find(|u| !redirect_uri_allowed(u)) {
        let bad: String = bad.chars().take(200).collect();
        return Err(Refusal::new(
            "invalid_redirect_uri",
            format!("{bad:?}: use https, or http to a loopback address"),
        ));
    }
    if meta.client_name.as_ref().is_some_and(|n| n.is_empty() || n.chars().count() > MAX_CLIENT_NAME) {
        return invalid("client_name: 1 to 200 characters");
    }
    let grants_ok = meta
        .grant_types
        .as_ref()
        .is_none_or(|g| g.iter().all(|g| matches!(g.as_str(), "authorization_code" | "refresh_token")));
    if !grants_ok {
        return invalid("grant_types: only authorization_code and refresh_token");
    }
    if meta.response_types.as_ref().is_some_and(|r| r.iter().any(|r| r != "code")) {
        return invalid("response_types: only code");
    }
    Ok(())
}

/// Registers a public client for `source` (the peer address), at most
/// [`REGISTRATIONS_PER_HOUR`] an hour. A confidential method asked for is answered with
/// `none`, the one this server supports (RFC 7591 §3.2.1 lets the server replace values).
pub async fn register(ctx: &Context, meta: ClientMetadata, source: &str) -> Outcome<Registered> {
    check_metadata(&meta)?;
    if store::recent_registrations(&ctx.db, source).await? >= REGISTRATIONS_PER_HOUR {
        let detail =
            format!("at most {REGISTRATIONS_PER_HOUR} client registrations an hour from one address");
        return Err(Error::RateLimited { detail, retry_after: Duration::from_secs(3600) }.into());
    }
    let row = ClientRow {
        client_id: format!("oc_{}", Uuid::new_v4().simple()),
        client_name: meta.client_name,
        redirect_uris: meta.redirect_uris,
    };
    store::insert_client(&ctx.db, &row, source).await?;
    Ok(Registered {
        client_id: row.client_id,
        client_id_issued_at: chrono::Utc::now().timestamp(),
        client_name: row.client_name,
        redirect_uris: row.redirect_uris,
        grant_types: ["authorization_code", "refresh_token"],
        response_types: ["code"],
        token_endpoint_auth_method: "none",
    })
}

/// The client `client_id` names: a metadata document's URL, or a registered id.
pub async fn resolve(ctx: &Context, client_id: &str) -> Outcome<ClientRow> {
    if client_id.starts_with("https://") || client_id.starts_with("http://") {
        return metadata_document(ctx, client_id).await;
    }
    store::get_client(&ctx.db, client_id)
        .await?
        .ok_or_else(|| Refusal::new("invalid_client", "unknown client_id"))
}

/// Client ID Metadata Documents fetched lately, by URL, until they expire.
#[derive(Default)]
pub struct ClientCache(Mutex<HashMap<String, (Instant, ClientRow)>>);

impl ClientCache {
    fn get(&self, url: &str) -> Option<ClientRow> {
        let map = self.0.lock().expect("not poisoned");
        map.get(url).filter(|(at, _)| at.elapsed() < DOCUMENT_TTL).map(|(_, row)| row.clone())
    }

    fn put(&self, url: &str, row: ClientRow) {
        let mut map = self.0.lock().expect("not poisoned");
        if map.len() >= MAX_CACHED {
            map.retain(|_, (at, _)| at.elapsed() < DOCUMENT_TTL);
        }
        if map.len() < MAX_CACHED {
            map.insert(url.to_owned(), (Instant::now(), row));
        }
    }
}

/// Fetches (or takes from the cache) the document at `client_id`: an https URL with a path
/// (http only where private networks are allowed: development), answered 200 without a
/// redirect, within the size cap, whose own `client_id` is exactly that URL.
async fn metadata_document(ctx: &Context, client_id: &str) -> Outcome<ClientRow> {
    let invalid = |why: String| Refusal::new("invalid_client", format!("client metadata document: {why}"));
    if let Some(row) = ctx.clients.get(client_id) {
        return Ok(row);
    }
    let url = Url::parse(client_id).map_err(|_| invalid("not a URL".into()))?;
    let https = url.scheme() == "https" || ctx.settings.allow_private_networks;
    if !https || url.path() == "/" || url.fragment().is_some() || !url.username().is_empty() {
        return Err(invalid("the client_id must be an https URL with a path".into()));
    }
    let request = ctx.net.request(Method::GET, &url).map_err(|e| invalid(e.to_string()))?;
    let request = request.header("accept", "application/json").timeout(FETCH_TIMEOUT);
    let fetched = ctx.net.fetch(request, MAX_DOCUMENT).await.map_err(|e| invalid(e.to_string()))?;
    if fetched.status != reqwest::StatusCode::OK {
        return Err(invalid(format!("answered {}", fetched.status.as_u16())));
    }
    let meta: ClientMetadata = serde_json::from_slice(&fetched.body)
        .map_err(|e| invalid(format!("not client metadata JSON: {e}")))?;
    if meta.client_id.as_deref() != Some(client_id) {
        return Err(invalid("its client_id is not the URL it was fetched from".into()));
    }
    if meta.token_endpoint_auth_method.as_deref().is_some_and(|m| m != "none") {
        return Err(invalid("only public clients (token_endpoint_auth_method none) are supported".into()));
    }
    check_metadata(&meta).map_err(|refusal| invalid(refusal.to_string()))?;
    let row = ClientRow {
        client_id: client_id.to_owned(),
        client_name: meta.client_name,
        redirect_uris: meta.redirect_uris,
    };
    ctx.clients.put(client_id, row.clone());
    Ok(row)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uris_are_https_or_loopback_http() {
        for ok in [
            "https://claude.ai/api/mcp/auth_callback",
            "http://127.0.0.1:3000/cb",
            "http://localhost/cb",
            "http://[::1]:9/x",
        ] {
            assert!(redirect_uri_allowed(ok), "{ok}");
        }
        for bad in [
            "http://example.com/cb",
            "https://x.example/cb#frag",
            "javascript:alert(1)",
            "myapp://cb",
            "not a url",
        ] {
            assert!(!redirect_uri_allowed(bad), "{bad}");
        }
    }
}
