//! The authorization server's HTTP face (RFC 8414 metadata, RFC 9728 metadata of each gateway,
//! registration, authorization with the consent page, token, revocation). OAuth clients, not
//! REST API callers, use these: errors are the RFCs' JSON (`error`, `error_description`),
//! not problems, and the authorization endpoint answers a browser (HTML, redirects).

pub(crate) mod page;

use axum::Router;
use axum::extract::rejection::FormRejection;
use axum::extract::{ConnectInfo, Path, Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json};
use serde::Deserialize;
use serde_json::json;

use super::AppState;
use super::conn::Connection;
use super::problem::ApiError;
use crate::authz::authorize::{self, AuthorizeRequest, Stop};
use crate::authz::clients::{self, ClientMetadata};
use crate::authz::metadata::{self, authorization_endpoint};
use crate::authz::tokens::{self, TokenRequest};
use crate::authz::{Outcome, Refusal};
use crate::error::Error;

// One line per route.
#[rustfmt::skip]
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/.well-known/oauth-authorization-server", get(server_metadata))
        .route("/.well-known/openid-configuration", get(server_metadata))
        .route("/.well-known/oauth-protected-resource/{*path}", get(resource_metadata))
        .route("/oauth/register", post(register))
        .route("/oauth/authorize", get(authorize).post(consent))
        .route("/oauth/token", post(token))
        .route("/oauth/revoke", post(revoke))
}

/// Answers that carry tokens or one-time values are never stored by caches (RFC 6749 §5.1).
fn no_store(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// An OAuth error as JSON (RFC 6749 §5.2, RFC 7591 §3.2.2); anything else as a problem.
fn refused(refusal: Refusal) -> Response {
    match refusal {
        Refusal::OAuth { error, description } => {
            let status =
                if error == "invalid_client" { StatusCode::UNAUTHORIZED } else { StatusCode::BAD_REQUEST };
            no_store(
                (status, Json(json!({"error": error, "error_description": description}))).into_response(),
            )
        }
        Refusal::Other(err) => ApiError::from(err).into_response(),
    }
}

async fn server_metadata(State(state): State<AppState>) -> Response {
    Json(metadata::server_metadata(&state.settings)).into_response()
}

/// A gateway's Protected Resource Metadata; any path that is not a gateway's MCP URL is 404.
/// Whether a gateway has that slug is not revealed (slugs are per tenant).
async fn resource_metadata(State(state): State<AppState>, Path(path): Path<String>) -> Response {
    match metadata::slug_of_metadata_path(&state.settings, &path) {
        Some(slug) => Json(metadata::resource_metadata(&state.settings, &slug)).into_response(),
        None => ApiError::from(Error::NotFound("protected resource")).into_response(),
    }
}

/// Dynamic Client Registration (RFC 7591), rate-limited per peer address.
async fn register(State(state): State<AppState>, request: Request) -> Response {
    let peer = request.extensions().get::<ConnectInfo<Connection>>().map(|c| c.0.peer().to_string());
    let source = peer.unwrap_or_default();
    let body = match axum::body::to_bytes(request.into_body(), state.settings.max_json_body).await {
        Ok(body) => body,
        Err(_) => return ApiError::PayloadTooLarge.into_response(),
    };
    let meta: ClientMetadata = match serde_json::from_slice(&body) {
        Ok(meta) => meta,
        Err(e) => {
            return refused(Refusal::new(
                "invalid_client_metadata",
                format!("not client metadata JSON: {e}"),
            ));
        }
    };
    match clients::register(&state.authz(), meta, &source).await {
        Ok(registered) => no_store((StatusCode::CREATED, Json(registered)).into_response()),
        Err(refusal) => refused(refusal),
    }
}

fn stopped(stop: Stop) -> Response {
    match stop {
        Stop::Redirect(url) => no_store(Redirect::to(url.as_str()).into_response()),
        Stop::Page(Refusal::OAuth { error, description }) => page::error(error, &description),
        Stop::Page(Refusal::Other(err)) => ApiError::from(err).into_response(),
    }
}

/// The authorization endpoint: checks the request and shows the sign-in page.
async fn authorize(
    State(state): State<AppState>,
    query: Result<Query<AuthorizeRequest>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(Query(request)) = query else {
        return page::error("invalid_request", "the authorization request's parameters cannot be read");
    };
    match authorize::begin(&state.authz(), request).await {
        Ok(prompt) => page::prompt(authorization_endpoint(&state.settings).as_str(), &prompt),
        Err(stop) => stopped(stop),
    }
}

/// What the consent page's forms send back.
#[derive(Debug, Deserialize)]
struct ConsentForm {
    csrf: Option<String>,
    action: Option<String>,
    key: Option<String>,
}

/// The consent page's forms: sign in (then the consent page), approve, or deny.
async fn consent(State(state): State<AppState>, form: Result<Form<ConsentForm>, FormRejection>) -> Response {
    let Ok(Form(form)) = form else {
        return page::error("invalid_request", "the form could not be read");
    };
    let Some(csrf) = form.csrf.filter(|c| !c.is_empty()) else {
        return page::error("invalid_request", "the form's CSRF token is missing");
    };
    let ctx = state.authz();
    match form.action.as_deref() {
        Some("sign_in") => {
            match authorize::submit_sign_in(&ctx, &csrf, form.key.as_deref().unwrap_or_default()).await {
                Ok(prompt) => page::prompt(authorization_endpoint(&state.settings).as_str(), &prompt),
                Err(stop) => stopped(stop),
            }
        }
        Some(action @ ("approve" | "deny")) => {
            match authorize::decide(&ctx, &csrf, action == "approve").await {
                Ok(url) => no_store(Redirect::to(url.as_str()).into_response()),
                Err(stop) => stopped(stop),
            }
        }
        _ => page::error("invalid_request", "the form's action is not sign_in, approve or deny"),
    }
}

/// A form body of a token or revocation request; unreadable is `invalid_request`.
fn form<T>(form: Result<Form<T>, FormRejection>) -> Outcome<T> {
    form.map(|Form(f)| f).map_err(|e| {
        Refusal::new(
            "invalid_request",
            format!("send an application/x-www-form-urlencoded body: {}", e.body_text()),
        )
    })
}

async fn token(
    State(state): State<AppState>,
    request: Result<Form<TokenRequest>, FormRejection>,
) -> Response {
    let exchanged = match form(request) {
        Ok(request) => tokens::exchange(&state.authz(), request).await,
        Err(refusal) => Err(refusal),
    };
    match exchanged {
        Ok(response) => no_store(Json(response).into_response()),
        Err(refusal) => refused(refusal),
    }
}

#[derive(Debug, Deserialize)]
struct RevokeForm {
    token: Option<String>,
    client_id: Option<String>,
}

/// Token revocation (RFC 7009): 200 whether or not the token was known.
async fn revoke(State(state): State<AppState>, request: Result<Form<RevokeForm>, FormRejection>) -> Response {
    let form = match form(request) {
        Ok(form) => form,
        Err(refusal) => return refused(refusal),
    };
    let Some(token) = form.token else { return refused(Refusal::new("invalid_request", "token is missing")) };
    match tokens::revoke(&state.authz(), &token, form.client_id.as_deref()).await {
        Ok(()) => no_store(StatusCode::OK.into_response()),
        Err(err) => ApiError::from(err).into_response(),
    }
}
