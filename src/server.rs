//! Accepting connections: TCP or rustls (HTTP/1.1 and HTTP/2 by ALPN), hyper's auto server
//! with enforced header-read timeout, graceful drain on shutdown.
//!
//! Does not know what a request means; it hands each one to a handler.

mod listener;
pub mod shutdown;

pub use listener::{ConnInfo, HttpOptions, serve, tls_acceptor};
