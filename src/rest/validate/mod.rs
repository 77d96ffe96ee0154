//! Every rule a descriptor must satisfy before it is saved, checked in one pass: the answer
//! is the full list of (field path, message), so an author fixes a descriptor in one go.
//!
//! The SSRF rules for URLs need a resolver and live with the outbound client; here URLs are
//! only checked to be absolute http(s) ones, and [`Descriptor::urls`] lists them all for the
//! caller's guard.

mod auth;
mod mcp;
mod operations;

use std::collections::HashMap;

use super::FieldError;
use super::descriptor::{Descriptor, Metadata, RateLimit, Sla};
use super::parse::nul_paths;
use super::rules::{self, MAX_DESCRIPTION, MAX_NAME};

/// More operations than this is refused: each may become a tool, and a catalog holds at
/// most 2,000.
pub const MAX_OPERATIONS: usize = 2_000;
/// Per operation.
pub const MAX_PARAMETERS: usize = 200;
pub const MAX_AUTH_TYPES: usize = 20;
/// Per auth type.
pub const MAX_AUTH_FIELDS: usize = 20;

/// Checks `descriptor`; `Err` holds every problem found.
pub fn validate(descriptor: &Descriptor) -> Result<(), Vec<FieldError>> {
    let mut errors = Errors::default();
    nul_characters(&mut errors, descriptor);
    metadata(&mut errors, &descriptor.metadata);
    auth::check(&mut errors, &descriptor.authentication, &descriptor.operations);
    operations::check(&mut errors, descriptor);
    rate_limits(&mut errors, &descriptor.rate_limits);
    if let Some(sla) = &descriptor.sla {
        self::sla(&mut errors, sla);
    }
    mcp::check(&mut errors, descriptor);
    errors.finish()
}

/// The list being collected, with the checks every part uses.
#[derive(Debug, Default)]
struct Errors(Vec<FieldError>);

impl Errors {
    fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError::new(field, message));
    }

    /// A required name: 1..=`max` characters, no control characters.
    fn name(&mut self, field: impl Into<String>, value: &str, max: usize) {
        if !rules::has_length(value, max) {
            self.add(field, rules::length_message(max));
        } else if rules::has_control(value) {
            self.add(field, "must not contain control characters");
        }
    }

    /// An optional name: checked like [`Self::name`] when present.
    fn optional_name(&mut self, field: impl Into<String>, value: Option<&str>, max: usize) {
        if let Some(value) = value {
            self.name(field, value, max);
        }
    }

    /// A description: 1..=500 characters (line breaks allowed).
    fn description(&mut self, field: impl Into<String>, value: Option<&str>) {
        if let Some(value) = value
            && !rules::has_length(value, MAX_DESCRIPTION)
        {
            self.add(field, rules::length_message(MAX_DESCRIPTION));
        }
    }

    fn url(&mut self, field: impl Into<String>, value: &str) {
        if let Err(why) = rules::check_absolute_url(value) {
            self.add(field, why);
        }
    }

    /// Reports every value that appears a second time, with where it first appeared.
    fn unique<'a>(&mut self, items: impl IntoIterator<Item = (String, &'a str)>, what: &str) {
        let mut seen: HashMap<&str, String> = HashMap::new();
        for (field, value) in items {
            if let Some(first) = seen.get(value) {
                self.add(field, format!("{what} `{value}` is already used at {first}"));
            } else {
                seen.insert(value, field);
            }
        }
    }

    fn finish(self) -> Result<(), Vec<FieldError>> {
        if self.0.is_empty() { Ok(()) } else { Err(self.0) }
    }
}

/// NUL cannot be stored by Postgres nor sent in a header: refused anywhere, free-form
/// `capabilities` included.
fn nul_characters(errors: &mut Errors, descriptor: &Descriptor) {
    match serde_json::to_value(descriptor) {
        Ok(value) => {
            for path in nul_paths(&value) {
                errors.add(path, "must not contain NUL characters");
            }
        }
        Err(e) => errors.add("descriptor", format!("cannot be represented as JSON: {e}")),
    }
}

fn metadata(errors: &mut Errors, metadata: &Metadata) {
    errors.name("metadata.name", &metadata.name, MAX_NAME);
    if let Some(slug) = &metadata.slug
        && !rules::is_slug(slug)
    {
        errors.add("metadata.slug", "must be 1–100 lowercase letters, digits and single dashes");
    }
    errors.optional_name("metadata.version", metadata.version.as_deref(), MAX_NAME);
    errors.optional_name("metadata.publisher", metadata.publisher.as_deref(), MAX_NAME);
    errors.description("metadata.description", metadata.description.as_deref());
    for (i, category) in metadata.categories.iter().enumerate() {
        errors.name(format!("metadata.categories[{i}]"), category, MAX_NAME);
    }
}

/// One limit per scope; zero calls or a zero-length interval would block every call.
fn rate_limits(errors: &mut Errors, limits: &[RateLimit]) {
    for (i, limit) in limits.iter().enumerate() {
        if limit.limit == 0 {
            errors.add(format!("rate_limits[{i}].limit"), "must be at least 1");
        }
        if !(1..=86_400).contains(&limit.interval_seconds) {
            errors.add(format!("rate_limits[{i}].interval_seconds"), "must be 1–86400 seconds");
        }
    }
    if limits.len() > 1 {
        errors.add("rate_limits", "at most one limit per scope (`per_account`)");
    }
}

fn sla(errors: &mut Errors, sla: &Sla) {
    if let Some(p) = sla.availability_percentage
        && !(0.0..=100.0).contains(&p)
    {
        errors.add("sla.availability_percentage", "must be 0–100");
    }
    if sla.latency_ms_p95 == Some(0) {
        errors.add("sla.latency_ms_p95", "must be at least 1");
    }
}

#[cfg(test)]
mod tests;
