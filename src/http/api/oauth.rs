//! OAuth-facing endpoints: the callback a person's browser lands on, our Client ID Metadata
//! Document, and authorization discovery for a URL.

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};
use url::Url;
use utoipa::ToSchema;

use crate::connectors::lifecycle::{self, CallbackOutcome, CallbackParams};
use crate::connectors::model::validate_upstream_url;
use crate::error::{Error, Validator};
use crate::http::AppState;
use crate::http::authz::page;
use crate::http::extract::Caller;
use crate::http::extract::{ApiJson, ApiQuery};
use crate::http::problem::ApiResult;
use crate::http::problem::Problem;
use crate::mcp::Transport;
use crate::oauth::discovery::{DiscoveryResult, discover};
use crate::tenancy::Scope;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/oauth/callback", get(callback))
        .route("/oauth/client-metadata.json", get(client_metadata))
        .route("/discovery", post(discover_url))
}

/// Where authorization servers send the browser back. Answers with a 303 to the connect
/// call's `redirect_url` (with `connector_id` and `status`, or `error` and
/// `error_description`), or with a plain page when there was none.
#[utoipa::path(
    get, path = "/api/v1/oauth/callback", tag = "oauth",
    params(
        ("state" = Option<String>, Query, description = "The `state` of the authorization request"),
        ("code" = Option<String>, Query, description = "The authorization code"),
        ("error" = Option<String>, Query, description = "The authorization server's error code"),
        ("error_description" = Option<String>, Query),
        ("iss" = Option<String>, Query, description = "RFC 9207 issuer identifier"),
    ),
    responses(
        (status = 303, description = "To the connect call's `redirect_url`, with the outcome in its query",
         headers(("Location" = String))),
        (status = 200, description = "Connected (no `redirect_url` was given)", content_type = "text/html", body = String),
        (status = 400, description = "Authorization failed, or the state is unknown, used or expired (a page), or the query is malformed (a problem)",
         content((String = "text/html"), (Problem = "application/problem+json"))),
    ),
)]
pub(super) async fn callback(
    State(state): State<AppState>,
    ApiQuery(params): ApiQuery<CallbackParams>,
) -> ApiResult<Response> {
    let outcome = lifecycle::complete_authorization(&state.connectors(), params).await?;
    Ok(match &outcome.redirect_url {
        Some(target) => Redirect::to(redirect_target(target, &outcome).as_str()).into_response(),
        None => page(&outcome),
    })
}

fn redirect_target(target: &str, outcome: &CallbackOutcome) -> Url {
    let mut url = Url::parse(target).expect("redirect URLs are validated before they are stored");
    {
        let mut query = url.query_pairs_mut();
        if let Some(id) = outcome.connector_id {
            query.append_pair("connector_id", &id.to_string());
        }
        match &outcome.result {
            Ok(status) => {
                query.append_pair("status", status.as_str());
            }
            Err((error, description)) => {
                query.append_pair("error", error).append_pair("error_description", description);
            }
        }
    }
    url
}

fn page(outcome: &CallbackOutcome) -> Response {
    let (status, title, body) = match &outcome.result {
        Ok(_) => {
            (StatusCode::OK, "Connected", "The connector is connected. You can close this window.".to_owned())
        }
        Err((error, description)) => (
            StatusCode::BAD_REQUEST,
            "Authorization failed",
            format!("{} ({})", page::escape(description), page::escape(error)),
        ),
    };
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title} · Switchboard</title></head>\
         <body><h1>{title}</h1><p>{body}</p></body></html>"
    );
    (status, [(header::CACHE_CONTROL, "no-store")], Html(html)).into_response()
}

/// The Client ID Metadata Document: our client_id at authorization servers that support
/// CIMD (a public client using PKCE).
#[utoipa::path(
    get, path = "/api/v1/oauth/client-metadata.json", tag = "oauth",
    responses((status = 200, description = "The client metadata (RFC 7591 fields)", body = Object)),
)]
pub(super) async fn client_metadata(State(state): State<AppState>) -> axum::Json<Value> {
    let s = &state.settings;
    axum::Json(json!({
        "client_id": s.client_metadata_url(),
        "client_name": "Switchboard",
        "redirect_uris": [s.oauth_callback_url()],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
        "application_type": "web",
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DiscoveryRequest {
    /// The MCP server URL to examine.
    #[schema(min_length = 1, max_length = 2048)]
    pub url: String,
    #[serde(default)]
    pub transport: Transport,
}

/// Discover how an MCP server wants to be authenticated, without saving anything.
#[utoipa::path(
    post, path = "/api/v1/discovery", tag = "connectors", request_body = DiscoveryRequest,
    responses((status = 200, body = DiscoveryResult), (status = 400, body = Problem)),
    security(("api_key" = ["write"]))
)]
pub async fn discover_url(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<DiscoveryRequest>,
) -> ApiResult<axum::Json<DiscoveryResult>> {
    caller.require(Scope::Write)?;
    let mut v = Validator::default();
    let url = validate_upstream_url(&mut v, "url", &body.url);
    v.finish()?;
    let url = url.expect("validated above");
    state.net.check_url(&url).map_err(Error::from)?;
    Ok(axum::Json(discover(&state.net, &url, body.transport).await.map_err(Error::from)?))
}
