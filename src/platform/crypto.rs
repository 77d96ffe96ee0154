//! Secrets at rest and API-key material.
//!
//! Every secret is sealed with AES-256-GCM under the first key of a [`Keyring`]; any key of
//! the ring can open, so keys rotate by prepending a new one and re-encrypting. The caller
//! supplies associated data that names where the ciphertext lives, so a ciphertext copied to
//! another row or field fails to open instead of silently decrypting in the wrong place.

use std::fmt;
use std::path::Path;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use rand::Rng as _;
use rand::distr::Alphanumeric;
use secrecy::{ExposeSecret as _, SecretString};
use sha2::{Digest, Sha256};

const NONCE_LEN: usize = 12;
const KEY_LEN: usize = 32;

/// A sealed value as stored: the id of the key that sealed it and `nonce || ciphertext || tag`.
#[derive(Clone, PartialEq, Eq)]
pub struct Sealed {
    pub key_id: String,
    pub ciphertext: Vec<u8>,
}

impl fmt::Debug for Sealed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sealed(key_id={}, {} bytes)", self.key_id, self.ciphertext.len())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("no key with id {0:?} is configured (was it removed from SWITCHBOARD_ENCRYPTION_KEYS?)")]
    UnknownKey(String),
    #[error("sealed value does not open: wrong key, wrong place, or tampered")]
    OpenFailed,
    #[error("invalid encryption key list: {0}")]
    InvalidKeys(String),
}

struct KeyEntry {
    id: String,
    cipher: Aes256Gcm,
}

/// The AES-256-GCM keys this process can use: the first seals, all of them open.
pub struct Keyring {
    keys: Vec<KeyEntry>,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ids: Vec<&str> = self.keys.iter().map(|k| k.id.as_str()).collect();
        f.debug_struct("Keyring").field("key_ids", &ids).finish()
    }
}

impl Keyring {
    /// Parses `kid:base64key,kid2:base64key2` (standard base64 of exactly 32 bytes each).
    pub fn parse(spec: &str) -> Result<Self, CryptoError> {
        let mut keys = Vec::new();
        for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (id, b64) = item
                .split_once(':')
                .ok_or_else(|| CryptoError::InvalidKeys("each entry must be kid:base64key".into()))?;
            let id = id.trim();
            if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
                return Err(CryptoError::InvalidKeys(format!(
                    "key id {id:?} must be non-empty and use only letters, digits, '-', '_', '.'"
                )));
            }
            if keys.iter().any(|k: &KeyEntry| k.id == id) {
                return Err(CryptoError::InvalidKeys(format!("key id {id:?} appears twice")));
            }
            let bytes = BASE64
                .decode(b64.trim())
                .map_err(|_| CryptoError::InvalidKeys(format!("key {id:?} is not valid base64")))?;
            if bytes.len() != KEY_LEN {
                return Err(CryptoError::InvalidKeys(format!(
                    "key {id:?} must decode to {KEY_LEN} bytes, got {}",
                    bytes.len()
                )));
            }
            let cipher = Aes256Gcm::new_from_slice(&bytes).expect("length checked above");
            keys.push(KeyEntry { id: id.to_owned(), cipher });
        }
        if keys.is_empty() {
            return Err(CryptoError::InvalidKeys("no keys given".into()));
        }
        Ok(Self { keys })
    }

    /// A fresh random key in the `kid:base64key` form that [`Keyring::parse`] reads.
    pub fn generate_entry(id: &str) -> String {
        let key: [u8; KEY_LEN] = rand::rng().random();
        format!("{id}:{}", BASE64.encode(key))
    }

    /// Reads the key file in `data_dir`, creating it (mode 0600) on first use.
    /// Returns the keyring and whether the file was just created.
    pub fn load_or_create_file(data_dir: &Path) -> anyhow::Result<(Self, bool)> {
        use anyhow::Context as _;
        let path = data_dir.join("encryption.keys");
        if path.exists() {
            let spec =
                std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
            let ring = Self::parse(&spec).with_context(|| format!("in {}", path.display()))?;
            return Ok((ring, false));
        }
        std::fs::create_dir_all(data_dir)
            .with_context(|| format!("creating data directory {}", data_dir.display()))?;
        let kid = format!("local-{}", chrono::Utc::now().format("%Y%m%d"));
        let spec = Self::generate_entry(&kid);
        write_private_file(&path, &spec).with_context(|| format!("writing {}", path.display()))?;
        Ok((Self::parse(&spec)?, true))
    }

    pub fn current_key_id(&self) -> &str {
        &self.keys[0].id
    }

    pub fn key_ids(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(|k| k.id.as_str())
    }

    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Sealed {
        let key = &self.keys[0];
        let nonce_bytes: [u8; NONCE_LEN] = rand::rng().random();
        let nonce = Nonce::from_slice(&nonce_bytes);
        let ct = key
            .cipher
            .encrypt(nonce, Payload { msg: plaintext, aad })
            .expect("AES-GCM encryption of an in-memory buffer cannot fail");
        let mut ciphertext = Vec::with_capacity(NONCE_LEN + ct.len());
        ciphertext.extend_from_slice(&nonce_bytes);
        ciphertext.extend_from_slice(&ct);
        Sealed { key_id: key.id.clone(), ciphertext }
    }

    pub fn open(&self, sealed: &Sealed, aad: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let key = self
            .keys
            .iter()
            .find(|k| k.id == sealed.key_id)
            .ok_or_else(|| CryptoError::UnknownKey(sealed.key_id.clone()))?;
        if sealed.ciphertext.len() < NONCE_LEN {
            return Err(CryptoError::OpenFailed);
        }
        let (nonce, ct) = sealed.ciphertext.split_at(NONCE_LEN);
        key.cipher
            .decrypt(Nonce::from_slice(nonce), Payload { msg: ct, aad })
            .map_err(|_| CryptoError::OpenFailed)
    }

    pub fn seal_str(&self, secret: &SecretString, aad: &[u8]) -> Sealed {
        self.seal(secret.expose_secret().as_bytes(), aad)
    }

    pub fn open_str(&self, sealed: &Sealed, aad: &[u8]) -> Result<SecretString, CryptoError> {
        let bytes = self.open(sealed, aad)?;
        let text = String::from_utf8(bytes).map_err(|_| CryptoError::OpenFailed)?;
        Ok(SecretString::from(text))
    }
}

#[cfg(unix)]
fn write_private_file(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()
}

#[cfg(not(unix))]
fn write_private_file(path: &Path, contents: &str) -> std::io::Result<()> {
    std::fs::write(path, contents)
}

/// API keys are `sk_` followed by 43 base62 characters (~256 bits of randomness).
pub const API_KEY_PREFIX: &str = "sk_";
const API_KEY_RANDOM_CHARS: usize = 43;
/// How many characters of a key (after `sk_`) are kept in clear to tell keys apart.
const API_KEY_DISPLAY_CHARS: usize = 8;

/// A newly minted API key: shown to its owner once, then only its hash is kept.
pub struct NewApiKey {
    pub secret: SecretString,
    pub hash: [u8; 32],
    pub prefix: String,
}

pub fn generate_api_key() -> NewApiKey {
    generate_key(API_KEY_PREFIX)
}

/// Gateway keys (`gk_…`) are made like API keys; the prefix tells a client which it holds.
pub const GATEWAY_KEY_PREFIX: &str = "gk_";

/// A key of `kind` (`sk_`, `gk_`) followed by 43 random base62 characters.
pub fn generate_key(kind: &str) -> NewApiKey {
    let random: String =
        rand::rng().sample_iter(Alphanumeric).take(API_KEY_RANDOM_CHARS).map(char::from).collect();
    let key = format!("{kind}{random}");
    let prefix = key[..kind.len() + API_KEY_DISPLAY_CHARS].to_owned();
    NewApiKey { hash: hash_api_key(&key), secret: SecretString::from(key), prefix }
}

/// API keys carry 256 bits of entropy, so a single fast hash is enough: there is nothing
/// to brute-force, and a lookup by hash keeps authentication to one indexed read.
pub fn hash_api_key(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// Compares two secrets without leaking where they differ through timing: both sides are
/// hashed first, so the comparison runs over fixed-length digests.
pub fn secrets_equal(a: &str, b: &str) -> bool {
    let (da, db) = (Sha256::digest(a.as_bytes()), Sha256::digest(b.as_bytes()));
    da.iter().zip(db.iter()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(spec: &str) -> Keyring {
        Keyring::parse(spec).unwrap()
    }

    #[test]
    fn seal_then_open_round_trips_and_binds_the_associated_data() {
        let k = ring(&Keyring::generate_entry("k1"));
        let sealed = k.seal(b"hunter2", b"tenant/a/field");
        assert_ne!(&sealed.ciphertext[NONCE_LEN..], b"hunter2");
        assert_eq!(k.open(&sealed, b"tenant/a/field").unwrap(), b"hunter2");
        assert!(matches!(k.open(&sealed, b"tenant/b/field"), Err(CryptoError::OpenFailed)));
    }

    #[test]
    fn each_seal_uses_a_fresh_nonce() {
        let k = ring(&Keyring::generate_entry("k1"));
        assert_ne!(k.seal(b"x", b"a").ciphertext, k.seal(b"x", b"a").ciphertext);
    }

    #[test]
    fn tampering_is_detected() {
        let k = ring(&Keyring::generate_entry("k1"));
        let mut sealed = k.seal(b"secret", b"a");
        let last = sealed.ciphertext.len() - 1;
        sealed.ciphertext[last] ^= 1;
        assert!(k.open(&sealed, b"a").is_err());
    }

    #[test]
    fn rotation_opens_old_values_and_seals_with_the_first_key() {
        let k1 = Keyring::generate_entry("k1");
        let k2 = Keyring::generate_entry("k2");
        let old = ring(&k1).seal(b"v", b"a");
        let rotated = ring(&format!("{k2},{k1}"));
        assert_eq!(rotated.open(&old, b"a").unwrap(), b"v");
        assert_eq!(rotated.seal(b"v", b"a").key_id, "k2");
        assert!(matches!(ring(&k2).open(&old, b"a"), Err(CryptoError::UnknownKey(id)) if id == "k1"));
    }

    #[test]
    fn bad_key_lists_are_rejected_with_a_reason() {
        for spec in ["", "nokey", "k1:notbase64!", "k1:AAAA", "bad id:AAAA", "k:", ","] {
            assert!(Keyring::parse(spec).is_err(), "{spec:?} should be rejected");
        }
        let e = Keyring::generate_entry("dup");
        assert!(Keyring::parse(&format!("{e},{e}")).is_err());
    }

    #[test]
    fn api_keys_have_the_documented_shape() {
        let key = generate_api_key();
        let text = key.secret.expose_secret();
        assert!(text.starts_with("sk_"));
        assert_eq!(text.len(), 3 + API_KEY_RANDOM_CHARS);
        assert!(text[3..].chars().all(|c| c.is_ascii_alphanumeric()));
        assert_eq!(key.hash, hash_api_key(text));
        assert!(text.starts_with(&key.prefix));
        assert_ne!(generate_api_key().secret.expose_secret(), text);
    }

    #[test]
    fn secrets_equal_compares_exactly() {
        assert!(secrets_equal("abc", "abc"));
        assert!(!secrets_equal("abc", "abd"));
        assert!(!secrets_equal("abc", "abcd"));
    }

    #[test]
    fn key_file_is_created_once_with_private_permissions() {
        let dir = std::env::temp_dir().join(format!("sb-keys-{}", uuid::Uuid::new_v4()));
        let (first, created) = Keyring::load_or_create_file(&dir).unwrap();
        assert!(created);
        let (second, created_again) = Keyring::load_or_create_file(&dir).unwrap();
        assert!(!created_again);
        let sealed = first.seal(b"v", b"a");
        assert_eq!(second.open(&sealed, b"a").unwrap(), b"v");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(dir.join("encryption.keys")).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::remove_dir_all(dir).unwrap();
    }
}
