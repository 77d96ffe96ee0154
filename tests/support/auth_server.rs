//! A real OAuth 2.1 authorization server for tests, served by axum on 127.0.0.1. It is
//! strict where Switchboard must be correct (PKCE S256, redirect URI, client authentication,
//! `resource`, single-use codes, refresh-token rotation with reuse detection) and records
//! every request so tests can assert what it saw.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Form, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

/// Where the AS publishes its metadata (tests check each discovery fallback).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetadataAt {
    /// RFC 8414 `/.well-known/oauth-authorization-server{path}`.
    Rfc8414,
    /// OIDC path-insert `/.well-known/openid-configuration{path}`.
    OidcInsert,
    /// OIDC path-append `{path}/.well-known/openid-configuration`.
    OidcAppend,
}

#[derive(Debug, Clone)]
pub struct AsConfig {
    /// Path part of the issuer (`""` or e.g. `/tenant1`).
    pub issuer_path: &'static str,
    pub metadata_at: MetadataAt,
    pub advertise_s256: bool,
    pub registration: bool,
    pub auth_methods: Vec<&'static str>,
    /// Put `iss` in authorization responses; `Some(wrong)` sends that instead.
    pub send_iss: bool,
    pub wrong_iss: Option<&'static str>,
    pub iss_supported: bool,
    /// Authorization answers `error=access_denied`.
    pub deny: bool,
    pub access_token_ttl: u64,
    pub client_id_metadata_documents: bool,
}

impl Default for AsConfig {
    fn default() -> Self {
        Self {
            issuer_path: "",
            metadata_at: MetadataAt::Rfc8414,
            advertise_s256: true,
            registration: true,
            auth_methods: vec!["client_secret_basic", "client_secret_post", "none"],
            send_iss: true,
            wrong_iss: None,
            iss_supported: true,
            deny: false,
            access_token_ttl: 3600,
            client_id_metadata_documents: false,
        }
    }
}

#[derive(Debug, Clone)]
pub struct RegisteredClient {
    pub secret: Option<String>,
    pub method: String,
    pub redirect_uris: Vec<String>,
}

#[derive(Debug, Clone)]
struct PendingCode {
    client_id: String,
    redirect_uri: String,
    challenge: String,
    resource: Option<String>,
    scope: Option<String>,
}

/// An access token the AS issued: who for, and for which resource (audience).
#[derive(Debug, Clone)]
pub struct IssuedToken {
    pub client_id: String,
    pub resource: Option<String>,
    pub scope: Option<String>,
}

#[derive(Debug, Default)]
pub struct AsState {
    pub clients: HashMap<String, RegisteredClient>,
    codes: HashMap<String, PendingCode>,
    pub access_tokens: HashMap<String, IssuedToken>,
    /// refresh token -> (client, resource, scope, still valid)
    pub refresh_tokens: HashMap<String, (String, Option<String>, Option<String>, bool)>,
    /// `METHOD path` of every request, in order.
    pub log: Vec<String>,
    pub registrations: Vec<Value>,
    /// Parameters of every authorization request.
    pub authorize_requests: Vec<HashMap<String, String>>,
    /// Form parameters (secrets included) and the Authorization header of every token request.
    pub token_requests: Vec<(HashMap<String, String>, Option<String>)>,
    /// Tokens revoked at the revocation endpoint, with their hint.
    pub revoked: Vec<(String, Option<String>)>,
    /// Grants revoked because a rotated refresh token was used again.
    pub revoked_grants: usize,
    counter: u64,
}

impl AsState {
    fn next(&mut self, prefix: &str) -> String {
        self.counter += 1;
        format!("{prefix}-{}-{}", self.counter, uuid::Uuid::new_v4().simple())
    }

    pub fn token_requests_of(&self, grant_type: &str) -> Vec<&HashMap<String, String>> {
        self.token_requests
            .iter()
            .map(|(f, _)| f)
            .filter(|f| f.get("grant_type").map(String::as_str) == Some(grant_type))
            .collect()
    }
}

#[derive(Clone)]
pub struct AuthServer {
    pub addr: SocketAddr,
    pub issuer: String,
    pub config: AsConfig,
    pub state: Arc<Mutex<AsState>>,
    down: Arc<AtomicBool>,
}

#[derive(Clone)]
struct Ctx {
    issuer: String,
    config: AsConfig,
    state: Arc<Mutex<AsState>>,
    /// While set, the token endpoint answers 503 (an outage).
    down: Arc<AtomicBool>,
}

impl AuthServer {
    pub async fn spawn(config: AsConfig) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let issuer = format!("http://{addr}{}", config.issuer_path);
        let state = Arc::new(Mutex::new(AsState::default()));
        let down = Arc::new(AtomicBool::new(false));
        let ctx =
            Ctx { issuer: issuer.clone(), config: config.clone(), state: state.clone(), down: down.clone() };
        let p = config.issuer_path;
        let metadata_path = match config.metadata_at {
            MetadataAt::Rfc8414 => format!("/.well-known/oauth-authorization-server{p}"),
            MetadataAt::OidcInsert => format!("/.well-known/openid-configuration{p}"),
            MetadataAt::OidcAppend => format!("{p}/.well-known/openid-configuration"),
        };
        let app = Router::new()
            .route(&metadata_path, get(metadata))
            .route("/register", post(register))
            .route("/authorize", get(authorize))
            .route("/token", post(token))
            .route("/revoke", post(revoke))
            .fallback(|| async { StatusCode::NOT_FOUND })
            .layer(axum::middleware::from_fn_with_state(ctx.clone(), log_request))
            .with_state(ctx);
        super::serve_local(listener, app);
        Self { addr, issuer, config, state, down }
    }

    /// Simulates an outage of the token endpoint (503) until called with `false`.
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    /// Revokes every refresh token, as a user revoking the app's access would.
    pub fn revoke_refresh_tokens(&self) {
        self.state.lock().unwrap().refresh_tokens.clear();
    }

    /// Registers a client ahead of time (a "pre-registered" client).
    pub fn preregister(&self, client_id: &str, secret: Option<&str>, method: &str, redirect_uri: &str) {
        self.state.lock().unwrap().clients.insert(
            client_id.to_owned(),
            RegisteredClient {
                secret: secret.map(str::to_owned),
                method: method.to_owned(),
                redirect_uris: vec![redirect_uri.to_owned()],
            },
        );
    }

    pub fn log(&self) -> Vec<String> {
        self.state.lock().unwrap().log.clone()
    }

    /// Whether `token` is a live access token (for any resource, or none).
    pub fn issued(&self, token: &str) -> bool {
        self.state.lock().unwrap().access_tokens.contains_key(token)
    }

    /// Forgets every access token issued so far, as a server revoking them would.
    pub fn revoke_access_tokens(&self) {
        self.state.lock().unwrap().access_tokens.clear();
    }

    /// Whether `token` is a live access token for `resource`.
    pub fn accepts(&self, token: &str, resource: &str) -> bool {
        let state = self.state.lock().unwrap();
        state.access_tokens.get(token).is_some_and(|t| t.resource.as_deref() == Some(resource))
    }
}

async fn log_request(State(ctx): State<Ctx>, req: Request, next: axum::middleware::Next) -> Response {
    ctx.state.lock().unwrap().log.push(format!("{} {}", req.method(), req.uri().path()));
    next.run(req).await
}

async fn metadata(State(ctx): State<Ctx>) -> axum::Json<Value> {
    let i = &ctx.issuer;
    let base = i.trim_end_matches(ctx.config.issuer_path);
    let mut md = json!({
        "issuer": i,
        "authorization_endpoint": format!("{base}/authorize"),
        "token_endpoint": format!("{base}/token"),
        "revocation_endpoint": format!("{base}/revoke"),
        "response_types_supported": ["code"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "token_endpoint_auth_methods_supported": ctx.config.auth_methods,
        "authorization_response_iss_parameter_supported": ctx.config.iss_supported,
        "client_id_metadata_document_supported": ctx.config.client_id_metadata_documents,
    });
    if ctx.config.registration {
        md["registration_endpoint"] = json!(format!("{base}/register"));
    }
    if ctx.config.advertise_s256 {
        md["code_challenge_methods_supported"] = json!(["S256"]);
    }
    axum::Json(md)
}

async fn register(State(ctx): State<Ctx>, axum::Json(body): axum::Json<Value>) -> Response {
    let mut state = ctx.state.lock().unwrap();
    state.registrations.push(body.clone());
    let method = body["token_endpoint_auth_method"].as_str().unwrap_or("client_secret_basic").to_owned();
    let redirect_uris: Vec<String> = body["redirect_uris"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect();
    if redirect_uris.is_empty() {
        return (StatusCode::BAD_REQUEST, axum::Json(json!({"error": "invalid_redirect_uri"})))
            .into_response();
    }
    let client_id = state.next("client");
    let secret = (method != "none").then(|| state.next("secret"));
    state.clients.insert(
        client_id.clone(),
        RegisteredClient { secret: secret.clone(), method: method.clone(), redirect_uris },
    );
    let mut answer =
        json!({"client_id": client_id, "token_endpoint_auth_method": method, "client_id_issued_at": 0});
    if let Some(secret) = secret {
        answer["client_secret"] = json!(secret);
        answer["client_secret_expires_at"] = json!(0);
    }
    (StatusCode::CREATED, axum::Json(answer)).into_response()
}

fn redirect_with(base: &str, params: &[(&str, &str)]) -> Response {
    let mut url = url::Url::parse(base).unwrap();
    url.query_pairs_mut().extend_pairs(params);
    Redirect::to(url.as_str()).into_response()
}

async fn authorize(State(ctx): State<Ctx>, Query(q): Query<HashMap<String, String>>) -> Response {
    let mut state = ctx.state.lock().unwrap();
    state.authorize_requests.push(q.clone());
    let (Some(client_id), Some(redirect_uri)) = (q.get("client_id"), q.get("redirect_uri")) else {
        return (StatusCode::BAD_REQUEST, "missing client_id or redirect_uri").into_response();
    };
    let known = state.clients.get(client_id).is_some_and(|c| c.redirect_uris.contains(redirect_uri))
        || (ctx.config.client_id_metadata_documents && client_id.starts_with("https://"));
    if !known {
        // RFC 6749 §4.1.2.1: never redirect to an unverified redirect URI.
        return (StatusCode::BAD_REQUEST, "unknown client or redirect_uri").into_response();
    }
    let state_param = q.get("state").cloned().unwrap_or_default();
    let iss = ctx.config.wrong_iss.map(str::to_owned).unwrap_or_else(|| ctx.issuer.clone());
    let mut params = vec![("state", state_param.as_str())];
    if ctx.config.send_iss {
        params.push(("iss", iss.as_str()));
    }
    if ctx.config.deny {
        params.push(("error", "access_denied"));
        params.push(("error_description", "The user said <no> & meant it"));
        return redirect_with(redirect_uri, &params);
    }
    if q.get("code_challenge_method").map(String::as_str) != Some("S256") || !q.contains_key("code_challenge")
    {
        params.push(("error", "invalid_request"));
        params.push(("error_description", "PKCE S256 required"));
        return redirect_with(redirect_uri, &params);
    }
    let code = state.next("code");
    state.codes.insert(
        code.clone(),
        PendingCode {
            client_id: client_id.clone(),
            redirect_uri: redirect_uri.clone(),
            challenge: q["code_challenge"].clone(),
            resource: q.get("resource").cloned(),
            scope: q.get("scope").cloned(),
        },
    );
    params.push(("code", code.as_str()));
    redirect_with(redirect_uri, &params)
}

fn oauth_error(error: &str, description: &str) -> Response {
    let status = if error == "invalid_client" { StatusCode::UNAUTHORIZED } else { StatusCode::BAD_REQUEST };
    (status, axum::Json(json!({"error": error, "error_description": description}))).into_response()
}

/// Authenticates the client per its registered method; returns its id, or the OAuth error.
fn authenticate(
    state: &AsState,
    headers: &HeaderMap,
    form: &HashMap<String, String>,
) -> Result<String, (&'static str, String)> {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "));
    let (client_id, secret, method) = match basic {
        Some(b64) => {
            let decoded = String::from_utf8(STANDARD.decode(b64).unwrap_or_default()).unwrap_or_default();
            let (id, secret) = decoded.split_once(':').unwrap_or((&decoded, ""));
            let dec = |s: &str| {
                url::form_urlencoded::parse(format!("x={s}").as_bytes()).next().unwrap().1.into_owned()
            };
            (dec(id), Some(dec(secret)), "client_secret_basic")
        }
        None => match (form.get("client_id"), form.get("client_secret")) {
            (Some(id), Some(secret)) => (id.clone(), Some(secret.clone()), "client_secret_post"),
            (Some(id), None) => (id.clone(), None, "none"),
            _ => return Err(("invalid_client", "no client authentication".into())),
        },
    };
    let Some(client) = state.clients.get(&client_id) else {
        // A client ID metadata document URL is a public client.
        if client_id.starts_with("https://") && method == "none" {
            return Ok(client_id);
        }
        return Err(("invalid_client", "unknown client".into()));
    };
    if client.method != method || client.secret != secret {
        return Err(("invalid_client", format!("expected {} authentication", client.method)));
    }
    Ok(client_id)
}

fn issue_tokens(
    ctx: &Ctx,
    state: &mut AsState,
    client_id: &str,
    resource: Option<String>,
    scope: Option<String>,
    refresh: bool,
) -> Response {
    let access = state.next("at");
    state.access_tokens.insert(
        access.clone(),
        IssuedToken { client_id: client_id.to_owned(), resource: resource.clone(), scope: scope.clone() },
    );
    let mut body =
        json!({"access_token": access, "token_type": "Bearer", "expires_in": ctx.config.access_token_ttl});
    if refresh {
        let rt = state.next("rt");
        state.refresh_tokens.insert(rt.clone(), (client_id.to_owned(), resource, scope.clone(), true));
        body["refresh_token"] = json!(rt);
    }
    if let Some(scope) = scope {
        body["scope"] = json!(scope);
    }
    axum::Json(body).into_response()
}

async fn token(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if ctx.down.load(Ordering::SeqCst) {
        return (StatusCode::SERVICE_UNAVAILABLE, "maintenance").into_response();
    }
    let mut state = ctx.state.lock().unwrap();
    let auth_header = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).map(str::to_owned);
    state.token_requests.push((form.clone(), auth_header));
    let client_id = match authenticate(&state, &headers, &form) {
        Ok(id) => id,
        Err((error, description)) => return oauth_error(error, &description),
    };
    match form.get("grant_type").map(String::as_str) {
        Some("authorization_code") => {
            let Some(pending) = form.get("code").and_then(|c| state.codes.remove(c)) else {
                return oauth_error("invalid_grant", "unknown or used code");
            };
            let verifier = form.get("code_verifier").cloned().unwrap_or_default();
            let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
            if pending.client_id != client_id
                || form.get("redirect_uri") != Some(&pending.redirect_uri)
                || challenge != pending.challenge
                || form.get("resource") != pending.resource.as_ref()
            {
                return oauth_error(
                    "invalid_grant",
                    "code, client, redirect_uri, verifier or resource mismatch",
                );
            }
            issue_tokens(&ctx, &mut state, &client_id, pending.resource, pending.scope, true)
        }
        Some("refresh_token") => {
            let presented = form.get("refresh_token").cloned().unwrap_or_default();
            let Some((owner, resource, scope, valid)) = state.refresh_tokens.get(&presented).cloned() else {
                return oauth_error("invalid_grant", "unknown refresh token");
            };
            if owner != client_id {
                return oauth_error("invalid_grant", "refresh token of another client");
            }
            if !valid {
                // Reuse of a rotated token: revoke the whole grant, as OAuth 2.1 servers do.
                state.revoked_grants += 1;
                state.refresh_tokens.retain(|_, (c, r, _, _)| !(c == &owner && r == &resource));
                return oauth_error("invalid_grant", "refresh token reuse detected; grant revoked");
            }
            state.refresh_tokens.get_mut(&presented).unwrap().3 = false;
            issue_tokens(&ctx, &mut state, &client_id, resource, scope, true)
        }
        Some("client_credentials") => {
            let (resource, scope) = (form.get("resource").cloned(), form.get("scope").cloned());
            issue_tokens(&ctx, &mut state, &client_id, resource, scope, false)
        }
        _ => oauth_error("unsupported_grant_type", "unsupported grant_type"),
    }
}

async fn revoke(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let mut state = ctx.state.lock().unwrap();
    if let Err((error, description)) = authenticate(&state, &headers, &form) {
        return oauth_error(error, &description);
    }
    let token = form.get("token").cloned().unwrap_or_default();
    state.access_tokens.remove(&token);
    state.refresh_tokens.remove(&token);
    state.revoked.push((token, form.get("token_type_hint").cloned()));
    StatusCode::OK.into_response()
}
