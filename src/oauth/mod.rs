//! Switchboard as an OAuth 2.1 client of upstream authorization servers (MCP authorization,
//! 2025-11-25): discovery, registration, PKCE authorization, token grants, revocation.

pub mod challenge;
