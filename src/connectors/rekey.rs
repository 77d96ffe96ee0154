//! `switchboard encryption reencrypt`: re-seal every stored secret under the keyring's
//! current key, so older keys can then be removed. Covers connector secrets, registered
//! OAuth clients and pending authorizations; each batch is locked with SKIP LOCKED so
//! concurrent runs split the work.

use anyhow::Context as _;
use sqlx::{PgConnection, PgPool};

use super::SecretField;
use super::store;
use crate::oauth::store::{self as oauth_store, client_secret_aad, verifier_aad};
use crate::platform::crypto::{Keyring, Sealed};

const BATCH: i64 = 500;

/// Every encryption key id that sealed something still stored (sorted).
pub async fn key_ids_in_use(db: &PgPool) -> sqlx::Result<Vec<String>> {
    let mut ids = store::secret_key_ids(db).await?;
    ids.extend(oauth_store::key_ids(db).await?);
    ids.sort();
    ids.dedup();
    Ok(ids)
}

/// Re-seals everything not under the current key; returns how many values changed.
/// Stops at the first value that does not open, naming it, so nothing is silently skipped.
pub async fn reencrypt_all(db: &PgPool, keyring: &Keyring) -> anyhow::Result<u64> {
    let mut total = 0;
    loop {
        let mut tx = db.begin().await?;
        let changed = reseal_batch(&mut tx, keyring).await?;
        tx.commit().await?;
        if changed == 0 {
            return Ok(total);
        }
        total += changed;
    }
}

fn reseal(
    keyring: &Keyring,
    sealed: &Sealed,
    aad: &[u8],
    what: impl FnOnce() -> String,
) -> anyhow::Result<Sealed> {
    let plaintext = keyring.open(sealed, aad).with_context(what)?;
    Ok(keyring.seal(&plaintext, aad))
}

async fn reseal_batch(tx: &mut PgConnection, keyring: &Keyring) -> anyhow::Result<u64> {
    let current = keyring.current_key_id();
    let mut changed = 0;
    for row in store::lock_secrets_not_under(tx, current, BATCH).await? {
        let field = SecretField::parse(&row.field).with_context(|| {
            format!("connector {} has an unknown secret field {:?}", row.connector_id, row.field)
        })?;
        let aad = field.aad(row.tenant_id, row.connector_id);
        let sealed = reseal(keyring, &row.sealed, &aad, || {
            format!("secret {:?} of connector {}", row.field, row.connector_id)
        })?;
        store::put_secret(tx, row.tenant_id, row.connector_id, field, &sealed).await?;
        changed += 1;
    }
    for client in oauth_store::lock_client_secrets_not_under(tx, current, BATCH).await? {
        let Some(old) = &client.secret else { continue };
        let aad = client_secret_aad(client.tenant_id, &client.issuer);
        let sealed = reseal(keyring, old, &aad, || format!("client secret of registration {}", client.id))?;
        oauth_store::set_client_secret(tx, client.id, &sealed).await?;
        changed += 1;
    }
    for state in oauth_store::lock_states_not_under(tx, current, BATCH).await? {
        let aad = verifier_aad(state.tenant_id, &state.state_hash);
        let sealed = reseal(keyring, &state.verifier, &aad, || {
            format!("pending authorization of connector {}", state.connector_id)
        })?;
        oauth_store::set_state_verifier(tx, &state.state_hash, &sealed).await?;
        changed += 1;
    }
    Ok(changed)
}
