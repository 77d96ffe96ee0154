//! The proxy's one read per request: the API key and the connector's head, together.

use sqlx::PgPool;
use uuid::Uuid;

/// The key behind a request and, if it belongs to the key's tenant, the connector.
#[derive(Debug, sqlx::FromRow)]
pub struct Head {
    pub tenant_id: Uuid,
    pub scopes: Vec<String>,
    pub connector_version: Option<i64>,
    pub status: Option<String>,
    pub transport: Option<String>,
}

pub async fn head(db: &PgPool, key_hash: &[u8], connector_id: Uuid) -> sqlx::Result<Option<Head>> {
    sqlx::query_as(
        "SELECT k.tenant_id, k.scopes, c.version AS connector_version, c.status, c.transport
         FROM api_keys k
         LEFT JOIN connectors c ON c.id = $2 AND c.tenant_id = k.tenant_id
         WHERE k.key_hash = $1 AND k.revoked_at IS NULL",
    )
    .bind(key_hash)
    .bind(connector_id)
    .fetch_optional(db)
    .await
}
