//! The oauth2 crate's HTTP client, built on [`Outbound`]: the same SSRF guard, no
//! redirects, capped bodies and timeouts as every other outbound call.

use std::future::Future;
use std::pin::Pin;

use oauth2::{AsyncHttpClient, HttpRequest, HttpResponse};

use crate::platform::net::{MAX_CONTROL_BODY, NetError, Outbound};

#[derive(Debug, thiserror::Error)]
pub enum OAuthHttpError {
    #[error(transparent)]
    Net(#[from] NetError),
    /// A 5xx from the authorization server: transient, unlike an OAuth error response.
    #[error("the authorization server answered HTTP {0}")]
    ServerError(http::StatusCode),
    #[error("invalid request: {0}")]
    Invalid(String),
}

pub struct OAuthHttp<'a>(pub &'a Outbound);

impl<'c> AsyncHttpClient<'c> for OAuthHttp<'_> {
    type Error = OAuthHttpError;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, OAuthHttpError>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(async move {
            let url = url::Url::parse(&request.uri().to_string())
                .map_err(|e| OAuthHttpError::Invalid(e.to_string()))?;
            let (parts, body) = request.into_parts();
            let builder = self.0.request(parts.method, &url)?.headers(parts.headers).body(body);
            let fetched = self.0.fetch(builder, MAX_CONTROL_BODY).await?;
            if fetched.status.is_server_error() {
                return Err(OAuthHttpError::ServerError(fetched.status));
            }
            let mut response = http::Response::new(fetched.body.to_vec());
            *response.status_mut() = fetched.status;
            *response.headers_mut() = fetched.headers;
            Ok(response)
        })
    }
}
