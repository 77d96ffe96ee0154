//! An OpenAPI 3.0 or 3.1 document (JSON or YAML) → a descriptor draft.
//!
//! Operations come from `paths` (`operationId`, else a slug of method and path), parameters
//! from path, query and header parameters and the JSON request body's top-level properties,
//! the base URL from `servers[0]` (a relative one needs `base_url`), authentication from
//! `securitySchemes`, and every operation is mapped to a tool described by its summary.
//! Whatever cannot be expressed is left out with a [`Warning`], and the draft always passes
//! [`validate`](crate::rest::validate::validate): an operation that would not is dropped.
//!
//! Parsing uses `openapiv3` for 3.0 and `oas3` for 3.1 (3.1 changed JSON Schema in ways one
//! set of types cannot read both of: `exclusiveMinimum` is a boolean in 3.0, a number in
//! 3.1). Only local `#/components/…` references are followed, never remote ones, and at most
//! [`model::MAX_REF_DEPTH`] hops deep.

mod build;
mod model;
mod names;
mod v30;
mod v31;

use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;

pub use self::model::Warning;
use super::FieldError;
use super::descriptor::Descriptor;
use super::parse::{self, Format, ParseError};

/// The largest OpenAPI document accepted, in bytes.
pub const MAX_OPENAPI_BYTES: usize = 8 * 1024 * 1024;

/// How to import.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct ImportOptions {
    /// The base URL when the document's server URL is relative (or absent); when the server
    /// URL is absolute, this replaces it (a staging host, a mock server).
    #[serde(default)]
    pub base_url: Option<String>,
    /// Only operations with one of these operation ids or tags (all when empty).
    #[serde(default)]
    pub include: Vec<String>,
    /// Minus operations with one of these operation ids or tags.
    #[serde(default)]
    pub exclude: Vec<String>,
}

/// A draft and what the import had to leave out or guess.
#[derive(Debug)]
pub struct Imported {
    pub descriptor: Descriptor,
    pub warnings: Vec<Warning>,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(transparent)]
    Parse(#[from] ParseError),
    #[error("not an OpenAPI document: {0}")]
    NotOpenApi(&'static str),
    #[error("OpenAPI {0} is not supported; 3.0 and 3.1 are")]
    UnsupportedVersion(String),
    #[error("not a valid OpenAPI {version} document: {message}")]
    Invalid { version: &'static str, message: String },
    #[error("the server URL `{0}` is relative: give a `base_url`")]
    RelativeServer(String),
    #[error("`base_url` {0}")]
    BadBaseUrl(&'static str),
    #[error("no operation to import{0}")]
    NoOperations(&'static str),
    #[error("{count} operations; at most {max} can be imported at once (use `include` / `exclude`)")]
    TooManyOperations { count: usize, max: usize },
    #[error("the draft does not validate: {}", .0.iter().map(|e| format!("{}: {}", e.field, e.message)).collect::<Vec<_>>().join("; "))]
    Draft(Vec<FieldError>),
}

impl From<ImportError> for crate::error::Error {
    fn from(err: ImportError) -> Self {
        match err {
            ImportError::Parse(e) => Self::rejected("invalid_document", e.to_string()),
            // The builder leaves out operations that break a rule; what remains broken is the
            // document's as a whole (a security scheme, its title): the author's to fix.
            ImportError::Draft(errors) => Self::UnprocessableFields {
                code: "openapi_not_importable",
                detail: "the document imports into a descriptor draft that does not validate".into(),
                errors: errors
                    .into_iter()
                    .map(|e| FieldError::new(format!("descriptor.{}", e.field), e.message))
                    .collect(),
            },
            other => Self::unprocessable("openapi_not_importable", other.to_string()),
        }
    }
}

/// Imports `text` (JSON or YAML, told apart by its first character).
pub fn import(text: &str, options: &ImportOptions) -> Result<Imported, ImportError> {
    let value = parse::read_value(text, Format::sniff(text), MAX_OPENAPI_BYTES)?;
    let api = read(value)?;
    build::descriptor(api, options)
}

fn read(mut value: Value) -> Result<model::Api, ImportError> {
    if value.get("swagger").is_some() {
        return Err(ImportError::UnsupportedVersion("2.0 (Swagger)".into()));
    }
    let Some(version) = value.get("openapi") else {
        return Err(ImportError::NotOpenApi("it has no `openapi` field"));
    };
    let version = match version {
        Value::String(v) => v.clone(),
        // YAML reads an unquoted `openapi: 3.0` as a number.
        Value::Number(n) => n.to_string(),
        _ => return Err(ImportError::NotOpenApi("its `openapi` field is not a version")),
    };
    value["openapi"] = Value::String(version.clone());
    let minor = |m: &str| version == m || version.starts_with(&format!("{m}."));
    if minor("3.0") {
        v30::read(value).map_err(|message| ImportError::Invalid { version: "3.0", message })
    } else if minor("3.1") {
        v31::read(value).map_err(|message| ImportError::Invalid { version: "3.1", message })
    } else {
        Err(ImportError::UnsupportedVersion(version))
    }
}

#[cfg(test)]
mod tests;
