//! Raw-socket HTTP for tests that must send what a client library would tidy up (bare LF,
//! duplicate framing headers, stalled bodies) and see exactly what comes back, including
//! whether the server closed the connection.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Generous bound for outcomes that the gateway reaches in well under a second.
pub const BOUND: Duration = Duration::from_secs(15);

/// One response read off a raw connection.
#[derive(Debug)]
pub struct Raw {
    pub status: u16,
    /// The head, lower-cased.
    pub head: String,
    pub body: String,
}

impl Raw {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|err| panic!("not JSON ({err}): {}", self.body))
    }
}

pub async fn connect(addr: SocketAddr) -> TcpStream {
    TcpStream::connect(addr).await.expect("connect")
}

/// Reads one response (head, then a `Content-Length` body or everything up to EOF).
pub async fn read_response(stream: &mut TcpStream) -> Option<Raw> {
    let mut buffer = Vec::new();
    let head_end = loop {
        if let Some(end) = find(&buffer, b"\r\n\r\n") {
            break end + 4;
        }
        let mut chunk = [0u8; 4096];
        let read = tokio::time::timeout(BOUND, stream.read(&mut chunk))
            .await
            .expect("response within the bound")
            .ok()?;
        if read == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..read]);
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).to_ascii_lowercase();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status code");
    let length = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok());
    let mut body = buffer[head_end..].to_vec();
    match length {
        Some(length) => {
            while body.len() < length {
                let mut chunk = [0u8; 4096];
                let read = tokio::time::timeout(BOUND, stream.read(&mut chunk))
                    .await
                    .expect("body within the bound")
                    .unwrap_or(0);
                if read == 0 {
                    break;
                }
                body.extend_from_slice(&chunk[..read]);
            }
        }
        None if status == 101 || status == 204 || status == 304 => {}
        None => {
            let _ = tokio::time::timeout(BOUND, stream.read_to_end(&mut body)).await;
        }
    }
    Some(Raw {
        status,
        head,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

/// Sends `request` on a new connection and reads one response.
pub async fn exchange(addr: SocketAddr, request: &[u8]) -> Raw {
    let mut stream = connect(addr).await;
    stream.write_all(request).await.expect("write request");
    read_response(&mut stream).await.expect("a response")
}

/// Whether the peer closes the connection (EOF or reset) within the bound, discarding
/// whatever else it sends.
pub async fn closed_within_bound(stream: &mut TcpStream) -> bool {
    let drained = tokio::time::timeout(BOUND, async {
        let mut sink = [0u8; 4096];
        loop {
            match stream.read(&mut sink).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    drained.is_ok()
}

pub fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

/// What a `ScriptedUpstream` does with the n-th request (0-based) of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    /// 200 with a small body, keep-alive.
    Ok,
    /// 200 with the same body in two chunks (`Transfer-Encoding: chunked`), keep-alive.
    OkChunked,
    /// 200 announcing a 1 MiB body, of which it sends 16 KiB and then nothing more.
    Stuck,
    /// Reads the request and closes without a byte of answer (a pooled connection dying).
    CloseUnanswered,
    /// 101 to any request, then echoes bytes (an upstream that would accept h2c).
    SwitchProtocols,
}

/// A raw upstream that records every request head (lower-cased) and answers by script.
pub struct ScriptedUpstream {
    pub addr: SocketAddr,
    pub heads: Arc<Mutex<Vec<String>>>,
    /// Connections accepted and connections the gateway closed (read EOF), so far.
    pub connections: Arc<Connections>,
}

/// Connections a `ScriptedUpstream` accepted, and those its peer closed.
#[derive(Default)]
pub struct Connections {
    accepted: AtomicUsize,
    closed_by_peer: AtomicUsize,
    changed: tokio::sync::Notify,
}

impl Connections {
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    pub fn closed_by_peer(&self) -> usize {
        self.closed_by_peer.load(Ordering::SeqCst)
    }

    /// Waits until `closed_by_peer()` reaches `count`; false after `BOUND`.
    pub async fn await_closed_by_peer(&self, count: usize) -> bool {
        tokio::time::timeout(BOUND, async {
            loop {
                let changed = self.changed.notified();
                if self.closed_by_peer() >= count {
                    return;
                }
                changed.await;
            }
        })
        .await
        .is_ok()
    }

    fn note_closed_by_peer(&self) {
        self.closed_by_peer.fetch_add(1, Ordering::SeqCst);
        self.changed.notify_waiters();
    }
}

impl ScriptedUpstream {
    pub async fn start(script: fn(usize) -> Reply) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind upstream");
        let addr = listener.local_addr().expect("addr");
        let heads = Arc::new(Mutex::new(Vec::new()));
        let connections = Arc::new(Connections::default());
        let (recorded, counted) = (heads.clone(), connections.clone());
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                counted.accepted.fetch_add(1, Ordering::SeqCst);
                let (recorded, counted) = (recorded.clone(), counted.clone());
                tokio::spawn(async move {
                    if serve_scripted(stream, script, recorded).await == Ended::ByPeer {
                        counted.note_closed_by_peer();
                    }
                });
            }
        });
        Self {
            addr,
            heads,
            connections,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn heads(&self) -> Vec<String> {
        self.heads.lock().expect("heads lock").clone()
    }
}

/// Who ended a scripted connection.
#[derive(PartialEq, Eq)]
enum Ended {
    /// The gateway closed it (EOF or reset where a request could start).
    ByPeer,
    /// The script did, or the peer went away in the middle of a request.
    Otherwise,
}

async fn serve_scripted(
    mut stream: TcpStream,
    script: fn(usize) -> Reply,
    heads: Arc<Mutex<Vec<String>>>,
) -> Ended {
    let mut buffer = Vec::new();
    for index in 0.. {
        let head_end = loop {
            if let Some(end) = find(&buffer, b"\r\n\r\n") {
                break end + 4;
            }
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) if buffer.is_empty() => return Ended::ByPeer,
                Ok(0) | Err(_) => return Ended::Otherwise,
                Ok(read) => buffer.extend_from_slice(&chunk[..read]),
            }
        };
        let head = String::from_utf8_lossy(&buffer[..head_end]).to_ascii_lowercase();
        let length = head
            .lines()
            .find_map(|line| line.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse::<usize>().ok())
            .unwrap_or(0);
        while buffer.len() < head_end + length {
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return Ended::Otherwise,
                Ok(read) => buffer.extend_from_slice(&chunk[..read]),
            }
        }
        buffer.drain(..head_end + length);
        heads.lock().expect("heads lock").push(head);
        let answer: &[u8] = match script(index) {
            Reply::Ok => b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
            Reply::OkChunked => {
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\no\r\n1\r\nk\r\n0\r\n\r\n"
            }
            Reply::Stuck => {
                let head = b"HTTP/1.1 200 OK\r\nContent-Length: 1048576\r\n\r\n";
                if stream.write_all(head).await.is_err()
                    || stream.write_all(&[b'x'; 16 * 1024]).await.is_err()
                {
                    return Ended::Otherwise;
                }
                // Nothing more until the gateway gives up on the body and closes.
                let mut sink = [0u8; 1024];
                while matches!(stream.read(&mut sink).await, Ok(read) if read > 0) {}
                return Ended::ByPeer;
            }
            Reply::CloseUnanswered => return Ended::Otherwise,
            Reply::SwitchProtocols => {
                let answer = b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n";
                if stream.write_all(answer).await.is_err() {
                    return Ended::Otherwise;
                }
                let (mut read, mut write) = stream.split();
                let _ = tokio::io::copy(&mut read, &mut write).await;
                return Ended::Otherwise;
            }
        };
        if stream.write_all(answer).await.is_err() {
            return Ended::Otherwise;
        }
    }
    Ended::Otherwise
}
