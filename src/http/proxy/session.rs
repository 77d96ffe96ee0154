//! Upstream session handles without server-side state, sealed with the keyring (AES-256-GCM)
//! and bound to the tenant and connector, so any replica can forward them and a handle minted
//! for another connector or tenant does not open:
//! - legacy SSE: the `session` parameter of our messages URL is the upstream's message URL;
//! - Streamable HTTP: the `Mcp-Session-Id` a caller sees is the upstream's, sealed. A caller
//!   cannot name an upstream session it was not given through this connector, and never
//!   learns the upstream's own id. The upstream's bytes come back exactly when opened.

use axum::http::{HeaderMap, HeaderValue};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use url::Url;
use uuid::Uuid;

use crate::error::Error;
use crate::platform::crypto::{Keyring, Sealed};

const SESSION_HEADER: &str = "mcp-session-id";

/// What a sealed handle stands for; part of its associated data, so one never opens as the
/// other.
#[derive(Clone, Copy)]
enum Kind {
    LegacyEndpoint,
    McpSession,
    /// A session id an MCP server Switchboard serves itself gave out.
    Served(ServedBy),
}

/// Which of Switchboard's own MCP servers gave a session id out. Both in the associated data
/// and in the sealed payload: a gateway's session id never opens on a REST connector (or the
/// other way round), even where a gateway and a connector share an id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServedBy {
    Gateway,
    RestConnector,
}

impl ServedBy {
    fn tag(self) -> u8 {
        match self {
            Self::Gateway => b'g',
            Self::RestConnector => b'r',
        }
    }
}

fn aad(kind: Kind, tenant_id: Uuid, owner_id: Uuid) -> Vec<u8> {
    let (owner, what) = match kind {
        Kind::LegacyEndpoint => ("connector", "proxy-session"),
        Kind::McpSession => ("connector", "mcp-session-id"),
        Kind::Served(ServedBy::Gateway) => ("gateway", "mcp-session-id"),
        Kind::Served(ServedBy::RestConnector) => ("connector", "served-mcp-session-id"),
    };
    format!("switchboard/v1/{tenant_id}/{owner}/{owner_id}/{what}").into_bytes()
}

/// A fresh 2025-era session id for a server Switchboard serves (a gateway, a REST connector):
/// its kind and a random id, sealed to the tenant and the gateway or connector. Nothing is
/// stored: any replica can tell it is one this server gave out.
pub fn seal_served_session(keyring: &Keyring, by: ServedBy, tenant_id: Uuid, owner_id: Uuid) -> String {
    let mut payload = vec![by.tag()];
    payload.extend_from_slice(Uuid::new_v4().as_bytes());
    seal(keyring, Kind::Served(by), tenant_id, owner_id, &payload)
}

/// Whether `token` is a session id this server (`by`, `owner_id`) gave out.
pub fn served_session_opens(
    keyring: &Keyring,
    by: ServedBy,
    tenant_id: Uuid,
    owner_id: Uuid,
    token: &str,
) -> bool {
    open(keyring, Kind::Served(by), tenant_id, owner_id, token).is_some_and(|p| p.first() == Some(&by.tag()))
}

/// `key_id.base64url(nonce || ciphertext || tag)`: visible ASCII, fit for a header or a query.
fn seal(keyring: &Keyring, kind: Kind, tenant_id: Uuid, connector_id: Uuid, plaintext: &[u8]) -> String {
    let sealed = keyring.seal(plaintext, &aad(kind, tenant_id, connector_id));
    format!("{}.{}", sealed.key_id, URL_SAFE_NO_PAD.encode(&sealed.ciphertext))
}

fn open(keyring: &Keyring, kind: Kind, tenant_id: Uuid, connector_id: Uuid, token: &str) -> Option<Vec<u8>> {
    let (key_id, b64) = token.split_once('.')?;
    let sealed = Sealed { key_id: key_id.to_owned(), ciphertext: URL_SAFE_NO_PAD.decode(b64).ok()? };
    keyring.open(&sealed, &aad(kind, tenant_id, connector_id)).ok()
}

pub fn seal_endpoint(keyring: &Keyring, tenant_id: Uuid, connector_id: Uuid, upstream: &Url) -> String {
    seal(keyring, Kind::LegacyEndpoint, tenant_id, connector_id, upstream.as_str().as_bytes())
}

pub fn open_endpoint(keyring: &Keyring, tenant_id: Uuid, connector_id: Uuid, token: &str) -> Option<Url> {
    let plaintext = open(keyring, Kind::LegacyEndpoint, tenant_id, connector_id, token)?;
    Url::parse(std::str::from_utf8(&plaintext).ok()?).ok()
}

/// Replaces the caller's `Mcp-Session-Id` with the upstream's. One that does not open for
/// this tenant and connector names no session here: 404, which tells an MCP client to
/// initialize again.
pub fn open_session_header(
    keyring: &Keyring,
    tenant_id: Uuid,
    connector_id: Uuid,
    headers: &mut HeaderMap,
) -> Result<(), Error> {
    let Some(value) = headers.get(SESSION_HEADER) else { return Ok(()) };
    let upstream = value
        .to_str()
        .ok()
        .and_then(|token| open(keyring, Kind::McpSession, tenant_id, connector_id, token))
        .and_then(|raw| HeaderValue::from_bytes(&raw).ok())
        .ok_or(Error::NotFound("session"))?;
    headers.insert(SESSION_HEADER, upstream);
    Ok(())
}

/// Replaces the upstream's `Mcp-Session-Id` in a response with its sealed form.
pub fn seal_session_header(keyring: &Keyring, tenant_id: Uuid, connector_id: Uuid, headers: &mut HeaderMap) {
    if let Some(value) = headers.get(SESSION_HEADER) {
        let token = seal(keyring, Kind::McpSession, tenant_id, connector_id, value.as_bytes());
        headers.insert(
            SESSION_HEADER,
            HeaderValue::from_str(&token).expect("base64 and a key id are visible ASCII"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_open_only_for_their_tenant_and_connector() {
        let keyring = Keyring::parse(&Keyring::generate_entry("k")).unwrap();
        let (t, c) = (Uuid::now_v7(), Uuid::now_v7());
        let url = Url::parse("https://mcp.example.com/messages?sessionId=abc").unwrap();
        let token = seal_endpoint(&keyring, t, c, &url);
        assert!(!token.contains("mcp.example.com"), "the upstream URL is not readable");
        assert_eq!(open_endpoint(&keyring, t, c, &token), Some(url));
        assert_eq!(open_endpoint(&keyring, t, Uuid::now_v7(), &token), None);
        assert_eq!(open_endpoint(&keyring, Uuid::now_v7(), c, &token), None);
        assert_eq!(open_endpoint(&keyring, t, c, "k.garbage"), None);
        assert_eq!(open_endpoint(&keyring, t, c, "no-dot"), None);
    }

    #[test]
    fn session_ids_round_trip_byte_for_byte_and_only_where_they_were_sealed() {
        let keyring = Keyring::parse(&Keyring::generate_entry("k")).unwrap();
        let (t, c) = (Uuid::now_v7(), Uuid::now_v7());
        let raw = HeaderValue::from_bytes(b"Ab-9~!\"#$%&'()*+,/:;<=>?@[]^_`{|}").unwrap();
        let mut response = HeaderMap::new();
        response.insert(SESSION_HEADER, raw.clone());
        seal_session_header(&keyring, t, c, &mut response);
        let sealed = response[SESSION_HEADER].clone();
        assert_ne!(sealed, raw);
        let mut request = response.clone();
        open_session_header(&keyring, t, c, &mut request).unwrap();
        assert_eq!(request[SESSION_HEADER], raw);
        for (tenant, connector) in [(t, Uuid::now_v7()), (Uuid::now_v7(), c)] {
            assert!(open_session_header(&keyring, tenant, connector, &mut response.clone()).is_err());
        }
        // A legacy endpoint token is no session id, and the other way round.
        let endpoint = seal_endpoint(&keyring, t, c, &Url::parse("https://a.example/m").unwrap());
        let mut forged = HeaderMap::new();
        forged.insert(SESSION_HEADER, endpoint.parse().unwrap());
        assert!(open_session_header(&keyring, t, c, &mut forged).is_err());
        assert_eq!(open_endpoint(&keyring, t, c, sealed.to_str().unwrap()), None);
        let mut none = HeaderMap::new();
        assert!(open_session_header(&keyring, t, c, &mut none).is_ok(), "no session id is fine");
    }

    #[test]
    fn served_sessions_open_only_where_they_were_given_out() {
        let keyring = Keyring::parse(&Keyring::generate_entry("k")).unwrap();
        let (t, g) = (Uuid::now_v7(), Uuid::now_v7());
        for (by, other) in
            [(ServedBy::Gateway, ServedBy::RestConnector), (ServedBy::RestConnector, ServedBy::Gateway)]
        {
            let token = seal_served_session(&keyring, by, t, g);
            assert!(served_session_opens(&keyring, by, t, g, &token));
            assert!(!served_session_opens(&keyring, by, t, Uuid::now_v7(), &token));
            assert!(!served_session_opens(&keyring, by, Uuid::now_v7(), g, &token));
            assert!(!served_session_opens(&keyring, other, t, g, &token), "{by:?} replayed as {other:?}");
        }
        // A proxied connector's session id is no served one, even with the same ids.
        let mut headers = HeaderMap::new();
        headers.insert(SESSION_HEADER, HeaderValue::from_static("upstream"));
        seal_session_header(&keyring, t, g, &mut headers);
        for by in [ServedBy::Gateway, ServedBy::RestConnector] {
            assert!(!served_session_opens(&keyring, by, t, g, headers[SESSION_HEADER].to_str().unwrap()));
        }
    }
}
