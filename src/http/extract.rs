//! Request extractors. Every client mistake is a problem response: [`ApiJson`],
//! [`OptionalJson`], [`ApiQuery`] and [`PathId`] wrap axum's with our rejections; [`Caller`]
//! is the tenant behind an API key (counted against its rate limit), [`Operator`] the bearer
//! of the admin token.
//!
//! Text enters the service through [`ApiJson`] and [`ApiQuery`], and both apply the one rule
//! every stored string must obey: no NUL character (Postgres `text` and `jsonb` cannot hold
//! it). Checking it here, once, for every field of every body and query, keeps it from
//! failing later as a database error, however many input types there are.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Path};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use secrecy::{ExposeSecret as _, SecretString};
use serde_json::Value;
use uuid::Uuid;

use super::AppState;
use crate::error::{Error, Validator};
use crate::http::problem::{ApiError, ApiResult};
use crate::platform::crypto::secrets_equal;
use crate::tenancy::Scope;
use crate::tenancy::keys::authenticate;
use crate::tenancy::limits::Surface;

/// `axum::Json` whose rejections are problems: 400 for bad JSON or unknown fields, 413 when
/// over the body limit, 415 without a JSON content type, and 400 `validation_failed` naming
/// every field whose text holds a NUL character (checked on the parsed document, before it
/// becomes `T`).
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        let axum::Json(document) = axum::Json::<Value>::from_request(req, state).await?;
        Ok(Self(from_document(document)?))
    }
}

/// A parsed body as `T`, after the NUL rule.
fn from_document<T: serde::de::DeserializeOwned>(document: Value) -> Result<T, ApiError> {
    let mut v = Validator::default();
    nul_in_json(&document, &mut String::new(), &mut v);
    v.finish()?;
    let value = serde_path_to_error::deserialize(document).map_err(|e| {
        Error::rejected(
            "invalid_json",
            format!("Failed to deserialize the JSON body into the target type: {e}"),
        )
    })?;
    Ok(value)
}

/// Like [`ApiJson`], but a body sent as YAML (`application/yaml`, `application/x-yaml`,
/// `text/yaml`) is read as YAML — REST descriptors and OpenAPI documents are mostly written in
/// it. YAML is read by the descriptor reader (`rest::parse`): bounded nodes and alias
/// expansion, no duplicate keys, then the same NUL rule and decoding as JSON.
pub struct JsonOrYaml<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequest<S> for JsonOrYaml<T> {
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        if !is_yaml(req.headers()) {
            let ApiJson(value) = ApiJson::<T>::from_request(req, state).await?;
            return Ok(Self(value));
        }
        let document = read_yaml(req, state).await?;
        Ok(Self(from_document(document)?))
    }
}

/// The declared media type of the body, lowercased and without parameters.
pub fn media_type(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(axum::http::header::CONTENT_TYPE)?.to_str().ok()?;
    Some(value.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
}

/// Whether the body is declared as YAML.
pub fn is_yaml(headers: &HeaderMap) -> bool {
    media_type(headers).is_some_and(|media| {
        matches!(media.as_str(), "application/yaml" | "application/x-yaml" | "text/yaml")
    })
}

/// The body as text (within the body limit); 400 `invalid_body` when it is not UTF-8.
pub async fn read_text<S: Send + Sync>(req: axum::extract::Request, state: &S) -> Result<String, ApiError> {
    let bytes =
        axum::body::Bytes::from_request(req, state).await.map_err(|rejection| match rejection.status() {
            StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge,
            _ => Error::rejected("invalid_body", rejection.body_text()).into(),
        })?;
    String::from_utf8(bytes.to_vec())
        .map_err(|_| Error::rejected("invalid_body", "the body is not UTF-8").into())
}

async fn read_yaml<S: Send + Sync>(req: axum::extract::Request, state: &S) -> Result<Value, ApiError> {
    let text = read_text(req, state).await?;
    let limit = text.len().max(1);
    crate::rest::parse::read_value(&text, crate::rest::Format::Yaml, limit)
        .map_err(|e| Error::rejected("invalid_yaml", e.to_string()).into())
}

const NUL: &str = "must not contain NUL characters";

/// Names every string of `value` (keys included) that holds NUL, by its path (`auth.resource`,
/// `scopes[2]`); a key holding NUL is reported on the object that has it.
fn nul_in_json(value: &Value, path: &mut String, v: &mut Validator) {
    let here = |path: &str| if path.is_empty() { "body".to_owned() } else { path.to_owned() };
    match value {
        Value::String(s) if s.contains('\0') => v.push(here(path), NUL),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                nul_in_json(item, path, v);
                path.truncate(len);
            }
        }
        Value::Object(fields) => {
            if fields.keys().any(|k| k.contains('\0')) {
                v.push(here(path), format!("keys {NUL}"));
            }
            for (key, item) in fields.iter().filter(|(k, _)| !k.contains('\0')) {
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(key);
                nul_in_json(item, path, v);
                path.truncate(len);
            }
        }
        _ => {}
    }
}

/// Names every query parameter whose name or value holds NUL (a name holding it is `query`).
fn nul_in_query(query: &str) -> Result<(), Error> {
    let mut v = Validator::default();
    for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
        if name.contains('\0') {
            v.push("query", format!("parameter names {NUL}"));
        } else if value.contains('\0') {
            v.push(name.into_owned(), NUL);
        }
    }
    v.finish()
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        match rejection.status() {
            StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge,
            StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::UnsupportedMediaType(
                "send the body as JSON with `Content-Type: application/json`".into(),
            ),
            _ => Error::rejected("invalid_json", rejection.body_text()).into(),
        }
    }
}

/// Like [`ApiJson`], but an empty body (no content) means `T::default()`.
pub struct OptionalJson<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned + Default> FromRequest<S> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        let headers = req.headers();
        let empty = match headers.get(axum::http::header::CONTENT_LENGTH) {
            Some(len) => len == "0",
            None => !headers.contains_key(axum::http::header::TRANSFER_ENCODING),
        };
        if empty {
            return Ok(Self(T::default()));
        }
        let ApiJson(value) = ApiJson::<T>::from_request(req, state).await?;
        Ok(Self(value))
    }
}

/// `axum::extract::Query` whose rejections are 400 problems.
pub struct ApiQuery<T>(pub T);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        nul_in_query(parts.uri.query().unwrap_or_default())?;
        let axum::extract::Query(value) = axum::extract::Query::<T>::from_request_parts(parts, state).await?;
        Ok(Self(value))
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        Error::rejected("invalid_query", rejection.body_text()).into()
    }
}

/// A resource id from the path. Anything that is not a UUID cannot name a resource, so it is
/// a 404 like any other unknown id, never a 400 that would tell ids apart.
pub struct PathId(pub Uuid);

impl<S: Send + Sync> FromRequestParts<S> for PathId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_: PathRejection| ApiError::from(Error::NotFound("resource")))?;
        raw.parse().map(PathId).map_err(|_| ApiError::from(Error::NotFound("resource")))
    }
}

/// The header a caller sends its own credential for one REST connector call in (seed 004,
/// "Per-request authentication").
pub const USER_TOKEN_HEADER: &str = "x-switchboard-user-token";

/// The longest user token accepted, in bytes: more than any real access token or API key.
pub const MAX_USER_TOKEN: usize = 4096;

/// `X-Switchboard-User-Token`, when the request carries one: the caller's own credential,
/// used for the call instead of the connector's stored one. A malformed value is 400
/// `invalid_user_token`, saying what is wrong and never echoing it.
pub struct UserToken(pub Option<SecretString>);

impl<S: Send + Sync> FromRequestParts<S> for UserToken {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        user_token(&parts.headers).map(Self)
    }
}

/// The user token of `headers`, checked as [`UserToken`] says.
pub fn user_token(headers: &HeaderMap) -> Result<Option<SecretString>, ApiError> {
    let mut values = headers.get_all(USER_TOKEN_HEADER).iter();
    let Some(value) = values.next() else { return Ok(None) };
    let bytes = value.as_bytes();
    let why = if values.next().is_some() {
        "must be sent once"
    } else if bytes.is_empty() {
        "must not be empty"
    } else if bytes.len() > MAX_USER_TOKEN {
        "must be at most 4096 bytes"
    } else if !bytes.iter().all(u8::is_ascii_graphic) {
        "must be visible ASCII, without spaces or control characters"
    } else {
        let token = String::from_utf8(bytes.to_vec()).expect("visible ASCII is UTF-8");
        return Ok(Some(SecretString::from(token)));
    };
    Err(Error::rejected("invalid_user_token", format!("X-Switchboard-User-Token {why}")).into())
}

/// The tenant and key behind a request's `Authorization: Bearer sk_...`.
#[derive(Debug, Clone)]
pub struct Caller {
    pub tenant_id: Uuid,
    pub key_id: Uuid,
    scopes: Vec<Scope>,
}

impl Caller {
    /// Fails with 403 unless this key has `scope`.
    pub fn require(&self, scope: Scope) -> Result<(), ApiError> {
        if self.scopes.contains(&scope) { Ok(()) } else { Err(ApiError::MissingScope(scope.as_str())) }
    }
}

/// The token of an `Authorization: Bearer …` header (scheme case-insensitive).
pub(crate) fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer_token(&parts.headers)
            .ok_or(Error::Unauthenticated("send an API key as `Authorization: Bearer sk_...`"))?;
        let key = authenticate(&state.db, &state.caches.keys, token).await?;
        admit(state, key.tenant_id, Surface::Api).await?;
        Ok(Caller { tenant_id: key.tenant_id, key_id: key.id, scopes: key.scopes.clone() })
    }
}

/// A request bearing the operator token (`SWITCHBOARD_ADMIN_TOKEN`).
#[derive(Debug, Clone, Copy)]
pub struct Operator;

impl FromRequestParts<AppState> for Operator {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let expected = state
            .settings
            .admin_token
            .as_ref()
            .ok_or(Error::Unauthenticated("the admin API is off: set SWITCHBOARD_ADMIN_TOKEN"))?;
        match bearer_token(&parts.headers) {
            Some(token) if secrets_equal(token, expected.expose_secret()) => Ok(Operator),
            _ => Err(Error::Unauthenticated("send the operator token as `Authorization: Bearer ...`").into()),
        }
    }
}

/// Names the caller's tenant on the request's span and counts the request against the
/// tenant's rate limit for `surface` (429 when over).
pub async fn admit(state: &AppState, tenant: Uuid, surface: Surface) -> ApiResult<()> {
    tracing::Span::current().record("tenant_id", tracing::field::display(tenant));
    Ok(state.limits.check(&state.db, tenant, surface).await?)
}
