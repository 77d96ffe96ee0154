//! Integration tests: one binary (faster to link on small machines), one module per area.

#[path = "../support/mod.rs"]
mod support;

mod cli;
mod conformance;
mod connect;
mod connectors;
mod eras;
mod gateway;
mod gateway_cache;
mod gateway_changes;
mod gateway_interop;
mod gateway_mcp;
mod gateway_oauth;
mod gateway_scopes;
mod input;
mod interop;
mod isolation;
mod late_auth;
mod oauth;
mod openapi;
mod ops;
mod outage;
mod pool;
mod presets;
mod proxy;
mod rest;
mod rest_mcp;
mod rest_oauth;
mod rest_openapi;
mod secrets;
mod service;
mod slow_clients;
mod tenancy;
mod tools;
mod worker;
