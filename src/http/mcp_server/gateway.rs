//! A gateway as a [`ToolSource`]: its tools are the gateway's enabled tools the caller's
//! scopes open, under their aliases, taken once for the request from this replica's copy
//! (`gateway::cache`) — for a `tools/call`, only the tool it names; a call goes through
//! `gateway::dispatch` (logged in the gateway's call log).

use std::sync::Arc;

use rmcp::model::{CallToolResult, Tool};
use secrecy::SecretString;
use serde_json::{Map, Value};

use super::server::{Identity, ToolSource, mcp_tool};
use crate::error::Result;
use crate::gateway::changes::Watch;
use crate::gateway::dispatch::{self, Caller};
use crate::gateway::model::{Gateway, GatewayTool};
use crate::{error::Error, gateway};

#[derive(Clone)]
pub struct GatewaySource {
    ctx: gateway::Context,
    gateway: Arc<Gateway>,
    caller: Caller,
    tools: Arc<Vec<Tool>>,
    /// The tool a `tools/call` request names, found before rmcp asks for it.
    called: Option<Arc<GatewayTool>>,
    /// The caller's own token (`X-Switchboard-User-Token`) for this request's REST tool calls.
    user_token: Option<SecretString>,
}

impl GatewaySource {
    /// The gateway's tools as `caller` sees them; their calls made with `user_token` when given.
    pub async fn load(
        ctx: gateway::Context,
        gateway: Arc<Gateway>,
        caller: Caller,
        user_token: Option<SecretString>,
    ) -> Result<Self> {
        let exposed = dispatch::exposed_tools(&ctx, &gateway, caller.scopes).await?;
        let tools = Arc::new(exposed.iter().map(as_mcp).collect());
        Ok(Self { ctx, gateway, caller, tools, called: None, user_token })
    }

    /// For a `tools/call` of `alias`: only that tool, if the caller may call it (rmcp looks
    /// it up before the call, for its `Mcp-Param-*` header checks).
    pub async fn for_call(
        ctx: gateway::Context,
        gateway: Arc<Gateway>,
        caller: Caller,
        alias: &str,
        user_token: Option<SecretString>,
    ) -> Result<Self> {
        let called = dispatch::callable_tool(&ctx, &gateway, caller.scopes, alias).await?;
        let tools = Arc::new(called.iter().map(|t| as_mcp(t)).collect());
        Ok(Self { ctx, gateway, caller, tools, called, user_token })
    }
}

/// The tool as clients see it: the alias, the (overridden) description, the upstream's schemas.
fn as_mcp(tool: &GatewayTool) -> Tool {
    mcp_tool(
        &tool.alias,
        tool.title.as_deref(),
        tool.effective_description(),
        tool.input_schema.as_ref(),
        tool.output_schema.as_ref(),
        tool.annotations.as_ref(),
    )
}

impl ToolSource for GatewaySource {
    fn identity(&self) -> Identity {
        Identity {
            name: format!("switchboard-gateway/{}", self.gateway.slug),
            instructions: self.gateway.instructions.clone(),
        }
    }

    fn tools(&self) -> &[Tool] {
        &self.tools
    }

    async fn call(&self, name: &str, arguments: Map<String, Value>) -> Result<CallToolResult, Error> {
        let token = self.user_token.as_ref();
        let tool = match &self.called {
            Some(tool) if tool.alias == name => Some(tool.clone()),
            _ => dispatch::callable_tool(&self.ctx, &self.gateway, self.caller.scopes, name).await?,
        };
        let call = (name, tool.as_deref(), arguments);
        dispatch::call(&self.ctx, self.caller, &self.gateway, call, token).await
    }

    fn announces_changes(&self) -> bool {
        true
    }

    async fn watch(&self) -> Result<Option<Watch>, Error> {
        Ok(Some(self.ctx.tool_lists.watch(self.ctx.db(), self.gateway.id).await?))
    }
}
