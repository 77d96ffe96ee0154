//! What an operator needs to run Switchboard for many tenants: Prometheus metrics, per-tenant
//! rate limits, graceful shutdown, and the configuration check.

pub mod metrics;

use uuid::Uuid;

use crate::AppState;
use crate::error::ApiResult;
use crate::tenancy::limits::Surface;

/// Names the caller's tenant on the request's span and counts the request against the
/// tenant's rate limit for `surface` (429 when over).
pub async fn admit(state: &AppState, tenant: Uuid, surface: Surface) -> ApiResult<()> {
    tracing::Span::current().record("tenant_id", tracing::field::display(tenant));
    state.limits.check(&state.db, tenant, surface).await
}
