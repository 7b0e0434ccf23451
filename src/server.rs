//! Accepting connections: TCP or rustls (HTTP/1.1 and HTTP/2 by ALPN), hyper's auto server,
//! a bounded number of connections with a deadline for every phase, strict HTTP/1 framing,
//! graceful drain on shutdown; the client listener on every core (`cores`).
//!
//! Does not know what a request means; it hands each one to a handler.

mod connection;
pub mod cores;
mod framing;
mod limits;
mod listener;
pub mod shutdown;
mod tls;

pub use limits::{default_max_connections, raise_fd_limit};
pub use listener::{ConnInfo, HttpOptions, serve};
pub use tls::{ServerCert, load_certified_key, tls_acceptor};
