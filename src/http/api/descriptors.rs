//! `/api/v1/descriptors/from-openapi`: an OpenAPI 3.0/3.1 document (JSON or YAML) becomes a
//! REST connector descriptor draft, to review and send as a connector's `descriptor`.

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::handler::Handler as _;
use axum::http::HeaderMap;
use axum::routing::post;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::{Error, Validator};
use crate::http::AppState;
use crate::http::extract::{ApiQuery, Caller, is_yaml, media_type, read_text};
use crate::http::problem::{ApiError, ApiResult, Problem};
use crate::rest::Descriptor;
use crate::rest::openapi::{self, ImportOptions, MAX_OPENAPI_BYTES, Warning};
use crate::tenancy::Scope;

pub fn routes() -> Router<AppState> {
    let import = from_openapi.layer(DefaultBodyLimit::max(MAX_OPENAPI_BYTES));
    Router::new().route("/descriptors/from-openapi", post(import))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ImportParams {
    /// The API's base URL when the document's server URL is relative or absent; replaces an
    /// absolute one (a staging host, a mock server).
    #[param(max_length = 2048)]
    base_url: Option<String>,
    /// Comma-separated operation ids or tags: only these operations.
    #[param(max_length = 4096)]
    include: Option<String>,
    /// Comma-separated operation ids or tags: not these operations.
    #[param(max_length = 4096)]
    exclude: Option<String>,
}

fn list(raw: Option<&str>) -> Vec<String> {
    raw.into_iter()
        .flat_map(|r| r.split(','))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

/// A descriptor draft (it validates) and what the import had to leave out or guess.
#[derive(Debug, Serialize, ToSchema)]
pub struct DescriptorDraft {
    pub descriptor: Descriptor,
    pub warnings: Vec<Warning>,
}

/// Import an OpenAPI 3.0 or 3.1 document as a REST connector descriptor: operations from its
/// paths (`operationId`, else a slug of method and path), parameters from path, query, header
/// and the JSON body's top-level properties, auth from `securitySchemes`, every operation
/// mapped to a tool. Nothing is saved.
#[utoipa::path(
    post, path = "/api/v1/descriptors/from-openapi", tag = "connectors",
    params(ImportParams),
    request_body(
        description = "The OpenAPI document (at most 8 MiB), JSON or YAML",
        content((Object = "application/json"), (String = "application/yaml")),
    ),
    responses(
        (status = 200, body = DescriptorDraft),
        (status = 400, body = Problem, description = "`invalid_document`: not JSON or YAML; bad parameters"),
        (status = 401, body = Problem), (status = 403, body = Problem), (status = 413, body = Problem),
        (status = 415, body = Problem),
        (status = 422, body = Problem, description = "`openapi_not_importable`: not OpenAPI 3.0/3.1, a relative server without `base_url`, no operations, too many"),
    ),
    security(("api_key" = ["read"]))
)]
pub async fn from_openapi(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(params): ApiQuery<ImportParams>,
    request: Request,
) -> ApiResult<axum::Json<DescriptorDraft>> {
    caller.require(Scope::Read)?;
    if !is_yaml(request.headers()) && !is_json(request.headers()) {
        return Err(ApiError::UnsupportedMediaType(
            "send the document as `application/json` or `application/yaml`".into(),
        ));
    }
    let mut v = Validator::default();
    v.check(params.base_url.as_ref().is_none_or(|u| u.len() <= 2048), "base_url", "at most 2048 characters");
    v.finish()?;
    let text = read_text(request, &state).await?;
    let options = ImportOptions {
        base_url: params.base_url,
        include: list(params.include.as_deref()),
        exclude: list(params.exclude.as_deref()),
    };
    let imported = openapi::import(&text, &options).map_err(Error::from)?;
    Ok(axum::Json(DescriptorDraft { descriptor: imported.descriptor, warnings: imported.warnings }))
}

fn is_json(headers: &HeaderMap) -> bool {
    media_type(headers).is_some_and(|media| media == "application/json" || media.ends_with("+json"))
}
