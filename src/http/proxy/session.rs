//! Legacy SSE sessions without server-side state: the `session` parameter of our messages
//! URL is the upstream's message URL, sealed with the keyring (AES-256-GCM) and bound to the
//! tenant and connector. Any replica can forward the POST; a token minted for another
//! connector or tenant does not open.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use url::Url;
use uuid::Uuid;

use crate::platform::crypto::{Keyring, Sealed};

fn aad(tenant_id: Uuid, connector_id: Uuid) -> Vec<u8> {
    format!("switchboard/v1/{tenant_id}/connector/{connector_id}/proxy-session").into_bytes()
}

pub fn seal(keyring: &Keyring, tenant_id: Uuid, connector_id: Uuid, upstream: &Url) -> String {
    let sealed = keyring.seal(upstream.as_str().as_bytes(), &aad(tenant_id, connector_id));
    format!("{}.{}", sealed.key_id, URL_SAFE_NO_PAD.encode(&sealed.ciphertext))
}

pub fn open(keyring: &Keyring, tenant_id: Uuid, connector_id: Uuid, token: &str) -> Option<Url> {
    let (key_id, b64) = token.split_once('.')?;
    let sealed = Sealed { key_id: key_id.to_owned(), ciphertext: URL_SAFE_NO_PAD.decode(b64).ok()? };
    let plaintext = keyring.open(&sealed, &aad(tenant_id, connector_id)).ok()?;
    Url::parse(std::str::from_utf8(&plaintext).ok()?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_open_only_for_their_tenant_and_connector() {
        let keyring = Keyring::parse(&Keyring::generate_entry("k")).unwrap();
        let (t, c) = (Uuid::now_v7(), Uuid::now_v7());
        let url = Url::parse("https://mcp.example.com/messages?sessionId=abc").unwrap();
        let token = seal(&keyring, t, c, &url);
        assert!(!token.contains("mcp.example.com"), "the upstream URL is not readable");
        assert_eq!(open(&keyring, t, c, &token), Some(url));
        assert_eq!(open(&keyring, t, Uuid::now_v7(), &token), None);
        assert_eq!(open(&keyring, Uuid::now_v7(), c, &token), None);
        assert_eq!(open(&keyring, t, c, "k.garbage"), None);
        assert_eq!(open(&keyring, t, c, "no-dot"), None);
    }
}
