//! A REST connector as a [`ToolSource`]: its tools are the connector's catalog (the route
//! mappings of its descriptor, as `GET …/tools` lists them), loaded once for the request; a
//! call is a direct call through the catalog (arguments checked against the stored schema,
//! the REST request built and sent by `upstream::rest`, logged in the connector's call log).

use std::sync::Arc;

use rmcp::model::{CallToolResult, Tool};
use secrecy::SecretString;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::server::{Identity, ToolSource, mcp_tool};
use crate::catalog::service::{self, CallerRef};
use crate::catalog::store::ToolDetail;
use crate::error::{Error, Result};
use crate::upstream::target::Target;
use crate::{catalog, connectors};

#[derive(Clone)]
pub struct RestSource {
    ctx: catalog::Context,
    caller: CallerRef,
    connector_id: Uuid,
    name: Arc<str>,
    tools: Arc<Vec<Tool>>,
    /// The caller's own token (`X-Switchboard-User-Token`) for every call of this request.
    user_token: Option<SecretString>,
}

impl RestSource {
    /// The REST connector of `target` (connected) as `caller` uses it, with `user_token` in
    /// place of its stored credential when given.
    pub async fn load(
        ctx: catalog::Context,
        caller: CallerRef,
        target: &Target,
        user_token: Option<SecretString>,
    ) -> Result<Self> {
        let rest = target.rest.as_ref().ok_or(Error::NotFound("connector"))?;
        let info = connectors::rest::server_info(&rest.descriptor);
        let name = info.name.unwrap_or_else(|| format!("switchboard-rest/{}", target.connector_id));
        let catalog =
            service::tools(&ctx.upstream.connectors.db, caller.tenant_id, target.connector_id).await?;
        let tools = Arc::new(catalog.iter().map(as_mcp).collect());
        Ok(Self { ctx, caller, connector_id: target.connector_id, name: name.into(), tools, user_token })
    }
}

fn as_mcp(tool: &ToolDetail) -> Tool {
    let summary = &tool.summary;
    mcp_tool(
        &summary.name,
        summary.title.as_deref(),
        summary.description.as_deref(),
        Some(&tool.input_schema),
        tool.output_schema.as_ref(),
        summary.annotations.as_ref(),
    )
}

impl ToolSource for RestSource {
    fn identity(&self) -> Identity {
        Identity { name: self.name.to_string(), instructions: None }
    }

    fn tools(&self) -> &[Tool] {
        &self.tools
    }

    async fn call(&self, name: &str, arguments: Map<String, Value>) -> Result<CallToolResult, Error> {
        let (id, token) = (self.connector_id, self.user_token.as_ref());
        let outcome = service::call(&self.ctx, self.caller, id, name, arguments, token).await?;
        Ok(outcome.result)
    }
}
