//! Switchboard: a multi-tenant control plane for remote MCP servers.
//!
//! The modules are layers, and imports point one way (docs/architecture.md, checked by
//! `tests/architecture.rs`): [`http`] (all axum code; [`http::app`] builds the router the
//! binary and the integration tests both serve) → [`authz`] (the authorization server of
//! gateway endpoints) → [`gateway`], [`rest`] → [`catalog`] → [`upstream`] →
//! [`connectors`] → [`oauth`], [`tenancy`] → [`mcp`] → [`config`], [`error`] →
//! [`platform`]. [`cli`] and [`worker`] are entry points beside [`http`].

pub mod authz;
pub mod catalog;
pub mod cli;
pub mod config;
pub mod connectors;
pub mod error;
pub mod gateway;
pub mod http;
pub mod mcp;
pub mod oauth;
pub mod platform;
pub mod rest;
pub mod tenancy;
pub mod upstream;
pub mod worker;
