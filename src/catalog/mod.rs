//! The tool catalog: each connector's tools as its upstream lists them (synced on connect,
//! on request, on `notifications/tools/list_changed` and optionally periodically), and
//! direct tool calls over REST, validated against the stored schema and logged.

pub mod client;
pub mod model;
pub mod service;
mod sse_transport;
pub mod store;

pub use service::Resyncs;
