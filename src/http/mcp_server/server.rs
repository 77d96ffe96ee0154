//! A gateway as an rmcp [`ServerHandler`], made for one HTTP request (the service is
//! stateless: rmcp serves both eras without a session, see `gateway`): its tools are the
//! gateway's enabled tools under their aliases, loaded once for the request.

use std::sync::Arc;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, Implementation, ListToolsResult,
    PaginatedRequestParams, ResultType, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler};
use serde_json::Value;

use crate::gateway::dispatch::{self, Caller};
use crate::gateway::model::{Gateway, GatewayTool};
use crate::{error::Error, gateway};

#[derive(Clone)]
pub struct GatewayServer {
    pub ctx: gateway::Context,
    pub gateway: Arc<Gateway>,
    pub caller: Caller,
    pub tools: Arc<Vec<GatewayTool>>,
}

/// The tool as clients see it: the alias, the (overridden) description, the upstream's schemas.
fn as_mcp(tool: &GatewayTool) -> Tool {
    let object = |v: &Option<Value>| v.as_ref().and_then(Value::as_object).cloned().map(Arc::new);
    let mut mcp = Tool::new_with_raw(
        tool.alias.clone(),
        tool.effective_description().map(|d| d.to_owned().into()),
        object(&tool.input_schema).unwrap_or_default(),
    );
    mcp.title = tool.title.clone();
    mcp.output_schema = object(&tool.output_schema);
    mcp.annotations = tool.annotations.clone().and_then(|a| serde_json::from_value(a).ok());
    mcp
}

impl ServerHandler for GatewayServer {
    fn get_info(&self) -> ServerConfig {
        let capabilities = ServerCapabilities::builder().enable_tools().build();
        let info = ServerConfig::new(capabilities).with_server_info(Implementation::new(
            format!("switchboard-gateway/{}", self.gateway.slug),
            env!("CARGO_PKG_VERSION"),
        ));
        match &self.gateway.instructions {
            Some(instructions) => info.with_instructions(instructions.clone()),
            None => info,
        }
    }

    async fn list_tools(
        &self,
        _: Option<PaginatedRequestParams>,
        _: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(self.tools.iter().map(as_mcp).collect()))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.tools.iter().find(|t| t.alias == name).map(as_mcp)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let arguments = request.arguments.unwrap_or_default();
        let outcome = dispatch::call(&self.ctx, self.caller, &self.gateway, &request.name, arguments).await;
        match outcome {
            Ok(result) => {
                let mut result: CallToolResult = serde_json::from_value(result)
                    .map_err(|e| ErrorData::internal_error(format!("the upstream's result: {e}"), None))?;
                // A 2025-era upstream's result has no `resultType`; 2026-07-28 clients require
                // one (rmcp drops it again for 2025-era clients).
                result.result_type.get_or_insert(ResultType::COMPLETE);
                Ok(result.into())
            }
            Err(Error::NotFound(_)) => {
                Err(ErrorData::invalid_params(format!("unknown tool: {}", request.name), None))
            }
            Err(err) => {
                tracing::error!(error = %err, "gateway call failed before reaching the tool");
                Err(ErrorData::internal_error("the call could not be made; retry shortly", None))
            }
        }
    }
}
