//! The credentialed runtime path to an upstream, one hop: where a connector's requests go
//! and with which credential ([`target`]), sending with that credential — refreshed before
//! sending when expired, refreshed once and retried on a 401 ([`send`]) — and which
//! headers cross ([`headers`]).

pub mod headers;
pub mod send;
pub mod target;
