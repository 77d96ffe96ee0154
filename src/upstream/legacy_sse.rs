//! The legacy HTTP+SSE transport (protocol revision 2024-11-05) as an rmcp client
//! [`Transport`]: rmcp no longer ships one. GET the event stream, wait for the `endpoint`
//! event (same origin only, checked by the probe's rule), POST each message there, and read
//! every answer and notification from the stream.

use bytes::Bytes;
use reqwest::Method;
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap, HeaderValue};
use rmcp::RoleClient;
use rmcp::model::{ClientJsonRpcMessage, ServerJsonRpcMessage};
use rmcp::transport::Transport;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use url::Url;

use super::mcp_client::{Link, LinkError, protocol_error};
use crate::error::{Error, Result};
use crate::mcp::legacy::{EndpointError, wait_for_endpoint};
use crate::platform::sse;

/// Messages read from the stream but not yet taken by the session.
const INBOX: usize = 32;

pub struct LegacySse {
    link: Link,
    endpoint: Url,
    inbox: mpsc::Receiver<ServerJsonRpcMessage>,
    reader: JoinHandle<()>,
}

impl LegacySse {
    /// Opens the stream and waits for its `endpoint` event.
    pub async fn connect(link: Link) -> Result<Self> {
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static("text/event-stream"));
        let url = link.url().clone();
        let response =
            link.send(Method::GET, &url, headers, Bytes::new()).await.map_err(|e| link.error(e))?;
        let status = response.status();
        if !status.is_success() {
            return Err(Error::upstream(
                "upstream_error",
                format!("the upstream answered HTTP {} to the SSE GET", status.as_u16()),
            ));
        }
        let mut events = sse::Reader::new(response);
        let endpoint = wait_for_endpoint(&mut events, &url).await.map_err(|e| match e {
            EndpointError::Read(e) => protocol_error(format!("the SSE stream failed: {e}")),
            other => protocol_error(other.to_string()),
        })?;
        let (tx, inbox) = mpsc::channel(INBOX);
        let reader = tokio::spawn(async move {
            while let Ok(Some(event)) = events.next().await {
                if event.event.as_deref().is_some_and(|e| e != "message") {
                    continue;
                }
                match serde_json::from_str::<ServerJsonRpcMessage>(&event.data) {
                    Ok(message) => {
                        if tx.send(message).await.is_err() {
                            break; // the session is gone
                        }
                    }
                    Err(e) => tracing::debug!(error = %e, "ignoring an SSE message that is not JSON-RPC"),
                }
            }
        });
        Ok(Self { link, endpoint, inbox, reader })
    }
}

impl Transport<RoleClient> for LegacySse {
    type Error = LinkError;

    fn send(
        &mut self,
        item: ClientJsonRpcMessage,
    ) -> impl Future<Output = Result<(), LinkError>> + Send + 'static {
        let (link, endpoint) = (self.link.clone(), self.endpoint.clone());
        async move {
            let body = serde_json::to_vec(&item).map_err(|e| LinkError::plain(e.to_string()))?;
            let mut headers = HeaderMap::new();
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            let response = link.send(Method::POST, &endpoint, headers, body.into()).await?;
            if !response.status().is_success() {
                let status = response.status().as_u16();
                return Err(link.fail(Error::upstream(
                    "upstream_error",
                    format!("the upstream answered HTTP {status} to a message POST"),
                )));
            }
            Ok(())
        }
    }

    fn receive(&mut self) -> impl Future<Output = Option<ServerJsonRpcMessage>> + Send {
        self.inbox.recv()
    }

    async fn close(&mut self) -> Result<(), LinkError> {
        self.reader.abort();
        Ok(())
    }
}

impl Drop for LegacySse {
    fn drop(&mut self) {
        self.reader.abort();
    }
}
