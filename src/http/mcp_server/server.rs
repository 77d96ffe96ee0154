//! One rmcp [`ServerHandler`] for every MCP server Switchboard is itself: [`ToolServer`] over
//! a [`ToolSource`] (a gateway, a REST connector; decision 0061). A source is made for one
//! HTTP request (the service is stateless, see [`super::endpoint`]) with its tools loaded
//! once; the server pages them, finds one by name, and turns a call's outcome into what the
//! protocol says.

use std::future::Future;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation, ListToolsResult,
    PaginatedRequestParams, ResultType, ServerCapabilities, ServerConfig, ServerNotification,
    SubscriptionFilter, Tool, ToolListChangedNotification,
};
use rmcp::service::{RequestContext, SubscriptionContext};
use rmcp::{ErrorData, RoleServer, ServerHandler};
use serde_json::{Map, Value};

use crate::error::Error;
use crate::gateway::changes::Watch;
use crate::gateway::model::is_tool_name;

/// Tools in one `tools/list` page.
const PAGE_SIZE: usize = 200;

/// Who a server says it is.
pub struct Identity {
    pub name: String,
    pub instructions: Option<String>,
}

/// What an MCP server Switchboard serves offers: its identity, its tools (as clients see them,
/// already filtered for the caller), and calling one.
pub trait ToolSource: Clone + Send + Sync + 'static {
    fn identity(&self) -> Identity;

    fn tools(&self) -> &[Tool];

    /// The tool's result. `Err(NotFound)` is an unknown tool (a protocol error); an
    /// internal failure is a protocol error too; any other `Err` (invalid arguments, a
    /// connector not connected) becomes a tool result with `isError`.
    fn call(
        &self,
        name: &str,
        arguments: Map<String, Value>,
    ) -> impl Future<Output = Result<CallToolResult, Error>> + Send;

    /// Whether this server tells clients when its tool list changes (`tools.listChanged`).
    fn announces_changes(&self) -> bool {
        false
    }

    /// A watch on the tool list from now on, for a server that [announces
    /// changes](Self::announces_changes).
    fn watch(&self) -> impl Future<Output = Result<Option<Watch>, Error>> + Send {
        std::future::ready(Ok(None))
    }
}

/// A tool as rmcp has it, from the parts every source stores.
pub fn mcp_tool(
    name: &str,
    title: Option<&str>,
    description: Option<&str>,
    input_schema: Option<&Value>,
    output_schema: Option<&Value>,
    annotations: Option<&Value>,
) -> Tool {
    let object = |v: Option<&Value>| v.and_then(Value::as_object).cloned().map(Arc::new);
    let mut tool = Tool::new_with_raw(
        name.to_owned(),
        description.map(|d| d.to_owned().into()),
        object(input_schema).unwrap_or_default(),
    );
    tool.title = title.map(str::to_owned);
    tool.output_schema = object(output_schema);
    tool.annotations = annotations.cloned().and_then(|a| serde_json::from_value(a).ok());
    tool
}

#[derive(Clone)]
pub struct ToolServer<S>(pub S);

/// The page of `tools` (in name order) after `cursor`, and the next page's cursor: the last
/// name shown, base64url-encoded. Clients must treat it as opaque (MCP 2025-11-25,
/// "Pagination"). Unlike an offset, it neither skips nor repeats a tool when one before it is
/// added or removed between pages, and it leads on even when its own tool is gone. A cursor
/// this server does not give out (not base64url of a tool name) is -32602.
fn page(tools: &[Tool], cursor: Option<&str>) -> Result<(Vec<Tool>, Option<String>), ErrorData> {
    let mut sorted: Vec<&Tool> = tools.iter().collect();
    sorted.sort_unstable_by(|a, b| a.name.cmp(&b.name));
    let start = match cursor {
        None => 0,
        Some(cursor) => {
            let after = last_name(cursor)
                .ok_or_else(|| ErrorData::invalid_params("unknown cursor; list from the start", None))?;
            sorted.partition_point(|t| *t.name <= *after)
        }
    };
    let end = (start + PAGE_SIZE).min(sorted.len());
    let next = (end < sorted.len()).then(|| URL_SAFE_NO_PAD.encode(sorted[end - 1].name.as_bytes()));
    Ok((sorted[start..end].iter().map(|t| (*t).clone()).collect(), next))
}

/// The tool name a cursor of [`page`] stands for.
fn last_name(cursor: &str) -> Option<String> {
    let name = String::from_utf8(URL_SAFE_NO_PAD.decode(cursor).ok()?).ok()?;
    is_tool_name(&name).then_some(name)
}

impl<S: ToolSource> ServerHandler for ToolServer<S> {
    fn get_info(&self) -> ServerConfig {
        let Identity { name, instructions } = self.0.identity();
        let tools = ServerCapabilities::builder().enable_tools();
        let capabilities =
            if self.0.announces_changes() { tools.enable_tool_list_changed().build() } else { tools.build() };
        let info = ServerConfig::new(capabilities)
            .with_server_info(Implementation::new(name, env!("CARGO_PKG_VERSION")));
        match instructions {
            Some(instructions) => info.with_instructions(instructions),
            None => info,
        }
    }

    async fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        _: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let cursor = request.as_ref().and_then(|r| r.cursor.as_deref());
        let (tools, next_cursor) = page(self.0.tools(), cursor)?;
        let mut result = ListToolsResult::with_all_items(tools);
        result.next_cursor = next_cursor;
        Ok(result)
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.0.tools().iter().find(|t| t.name == name).cloned()
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        call_tool(&self.0, request).await.map(Into::into)
    }

    /// 2026-07-28 `subscriptions/listen`: only tool-list changes, from a server that announces
    /// them (rmcp answers -32601 otherwise, and for 2025-era requests).
    fn accepted_subscription_filter(&self, requested: &SubscriptionFilter) -> Option<SubscriptionFilter> {
        let mut accepted = SubscriptionFilter::default();
        accepted.tools_list_changed = requested.tools_list_changed;
        self.0.announces_changes().then_some(accepted)
    }

    /// Tells the subscriber of each change until it closes the stream (rmcp has acknowledged
    /// the subscription before this runs); a closed stream is the request's cancellation.
    async fn listen(&self, context: SubscriptionContext) -> Result<(), ErrorData> {
        let watch = self.0.watch().await.map_err(|err| {
            tracing::error!(error = %err, "opening a tool-list watch failed");
            ErrorData::internal_error("the subscription could not be opened; retry shortly", None)
        })?;
        let (Some(mut watch), Some(true)) = (watch, context.accepted().tools_list_changed) else {
            context.cancelled().await;
            return Ok(());
        };
        loop {
            tokio::select! {
                () = context.cancelled() => return Ok(()),
                () = watch.changed() => {}
            }
            let changed =
                ServerNotification::ToolListChangedNotification(ToolListChangedNotification::default());
            if context.sink().send(changed).await.is_err() {
                return Ok(());
            }
        }
    }
}

/// A `tools/call` of `source`'s tool: its result, or the protocol error to answer (what
/// [`ToolServer`] answers through rmcp, and [`super::direct`] without it).
pub async fn call_tool<S: ToolSource>(
    source: &S,
    request: CallToolRequestParams,
) -> Result<CallToolResult, ErrorData> {
    let arguments = request.arguments.unwrap_or_default();
    match source.call(&request.name, arguments).await {
        Ok(mut result) => {
            // A 2025-era upstream's result has no `resultType`; 2026-07-28 clients require
            // one (rmcp drops it again for 2025-era clients).
            result.result_type.get_or_insert(ResultType::COMPLETE);
            Ok(result)
        }
        Err(Error::NotFound(_)) => {
            Err(ErrorData::invalid_params(format!("unknown tool: {}", request.name), None))
        }
        Err(err @ (Error::Internal(_) | Error::DatabaseUnavailable)) => {
            tracing::error!(error = %err, "a served tool call failed before reaching the tool");
            Err(ErrorData::internal_error("the call could not be made; retry shortly", None))
        }
        // What the model can act on (bad arguments, a connector to reconnect) is a tool
        // error it reads (MCP 2025-11-25, "Error Handling"), not a protocol error.
        Err(err) => Ok(CallToolResult::error(vec![ContentBlock::text(failure_text(&err))])),
    }
}

fn failure_text(err: &Error) -> String {
    match err {
        Error::Invalid(errors) => {
            let problems: Vec<String> =
                errors.iter().map(|e| format!("{}: {}", e.field, e.message)).collect();
            format!("invalid arguments: {}", problems.join("; "))
        }
        other => format!("{other} ({})", other.code()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(names: impl IntoIterator<Item = String>) -> Vec<Tool> {
        names.into_iter().map(|name| mcp_tool(&name, None, None, None, None, None)).collect()
    }

    #[test]
    fn pages_follow_their_opaque_cursor_to_the_end_in_name_order() {
        // Out of order on purpose: a page is in name order whatever order the source keeps.
        let tools = named((0..PAGE_SIZE + 3).rev().map(|i| format!("t{i:03}")));
        let (first, next) = page(&tools, None).unwrap();
        assert_eq!((first.len(), first[0].name.as_ref()), (PAGE_SIZE, "t000"));
        let next = next.unwrap();
        assert_eq!(URL_SAFE_NO_PAD.decode(&next).unwrap(), b"t199", "base64url of the last name");
        let (rest, end) = page(&tools, Some(&next)).unwrap();
        let names: Vec<&str> = rest.iter().map(|t| t.name.as_ref()).collect();
        assert_eq!((names, end), (vec!["t200", "t201", "t202"], None));
        assert_eq!(page(&[], None).unwrap().1, None);
    }

    #[test]
    fn a_cursor_still_leads_on_when_its_tool_is_gone() {
        let tools = named(["a", "c", "d"].map(String::from));
        let after_b = URL_SAFE_NO_PAD.encode("b");
        let (rest, _) = page(&tools, Some(&after_b)).unwrap();
        assert_eq!(rest.iter().map(|t| t.name.as_ref()).collect::<Vec<_>>(), ["c", "d"]);
    }

    #[test]
    fn a_cursor_this_server_did_not_give_out_is_invalid_params() {
        let tools = named(["a".to_owned()]);
        let foreign = URL_SAFE_NO_PAD.encode(r#"{"offset":200}"#);
        for cursor in ["200", "!!", "", &foreign, "dA=="] {
            let err = page(&tools, Some(cursor)).unwrap_err();
            assert_eq!(err.code, rmcp::model::ErrorCode::INVALID_PARAMS, "{cursor}");
        }
    }
}
