//! The tool catalog: each connector's tools as its upstream lists them, and direct tool
//! calls over REST.

pub mod client;
mod sse_transport;
