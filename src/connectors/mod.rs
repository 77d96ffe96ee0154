//! Connectors: the domain model and its state, presets, the use cases, and their SQL.

pub mod connect;
pub mod credentials;
pub mod model;
pub mod presets;
pub mod refresh;
pub mod service;
pub(crate) mod store;
pub mod tokens;

/// The kind of the change notifications (migration 0005) that name a connector: every
/// change to a connector or its secrets.
pub const NOTIFY_KIND: &str = "connector";

pub use model::{AuthSettings, Connector, SecretField, Status};
pub use presets::Presets;
pub use service::{ConnectorPatch, NewConnector};
pub use store::ListFilter;
