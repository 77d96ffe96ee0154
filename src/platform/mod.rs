//! Leaves: what every layer may use and what knows no feature module — the one outbound
//! HTTP client, sealing, the database pool and migrations, SSE and `WWW-Authenticate`
//! grammar, caches kept true by LISTEN/NOTIFY, single flight, keyset pages, the shutdown
//! signal, and metric names.

pub mod cache;
pub mod challenge;
pub mod crypto;
pub mod db;
pub mod metrics;
pub mod net;
pub mod page;
pub mod shutdown;
pub mod single_flight;
pub mod sse;
