//! A TCP relay between the gateway and a server (PostgreSQL) that a test can pause — stop
//! forwarding bytes both ways while every socket stays open, as a network stall does — resume,
//! or take down (close every connection and refuse new ones, as a database that went away).
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// What the relay does with bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Forward,
    /// Bytes are held (nothing read, nothing written); connections stay open and new ones
    /// are accepted but get nothing.
    Stall,
    /// Every connection is closed and the listener is gone.
    Down,
}

pub struct Relay {
    pub addr: SocketAddr,
    mode: Arc<watch::Sender<Mode>>,
}

impl Relay {
    /// Relays connections to `target` until dropped.
    pub async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind relay");
        let addr = listener.local_addr().expect("relay addr");
        let (mode, _) = watch::channel(Mode::Forward);
        let mode = Arc::new(mode);
        let accept_mode = mode.clone();
        tokio::spawn(async move {
            let mut watch = accept_mode.subscribe();
            loop {
                let client = tokio::select! {
                    accepted = listener.accept() => match accepted {
                        Ok((client, _)) => client,
                        Err(_) => continue,
                    },
                    _ = watch.wait_for(|m| *m == Mode::Down) => return,
                };
                let mode = accept_mode.subscribe();
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(target).await else {
                        return;
                    };
                    let (client_read, client_write) = client.into_split();
                    let (server_read, server_write) = server.into_split();
                    tokio::select! {
                        () = pipe(client_read, server_write, mode.clone()) => {}
                        () = pipe(server_read, client_write, mode.clone()) => {}
                    }
                });
            }
        });
        Self { addr, mode }
    }

    /// A URL like `base` (a `postgres://` URL with its query) with the host and port of the
    /// relay.
    pub fn url_for(&self, base: &str) -> String {
        let mut url = url::Url::parse(base).expect("base URL");
        url.set_host(Some("127.0.0.1")).expect("host");
        url.set_port(Some(self.addr.port())).expect("port");
        url.to_string()
    }

    /// Stops forwarding; every socket stays open.
    pub fn stall(&self) {
        self.mode.send_replace(Mode::Stall);
    }

    pub fn resume(&self) {
        self.mode.send_replace(Mode::Forward);
    }

    /// Closes every connection and the listener: connecting is refused from now on.
    pub fn take_down(&self) {
        self.mode.send_replace(Mode::Down);
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.take_down();
    }
}

/// Copies `from` to `to` while the mode is `Forward`; holds while `Stall`; returns on `Down`
/// or when either side closes.
async fn pipe(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut mode: watch::Receiver<Mode>,
) {
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        // Wait until forwarding (or down) before reading, so a stalled relay reads nothing.
        let Ok(current) = mode.wait_for(|m| *m != Mode::Stall).await.map(|m| *m) else {
            return;
        };
        if current == Mode::Down {
            return;
        }
        let read = tokio::select! {
            read = from.read(&mut buffer) => read,
            _ = mode.wait_for(|m| *m == Mode::Down) => return,
        };
        let n = match read {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        // Bytes read just before a stall are held until it ends.
        let Ok(current) = mode.wait_for(|m| *m != Mode::Stall).await.map(|m| *m) else {
            return;
        };
        if current == Mode::Down || to.write_all(&buffer[..n]).await.is_err() {
            return;
        }
    }
}
