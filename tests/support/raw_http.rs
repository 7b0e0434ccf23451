//! Raw-socket HTTP for tests that must send what a client library would tidy up (bare LF,
//! duplicate framing headers, stalled bodies) and see exactly what comes back, including
//! whether the server closed the connection.
#![allow(dead_code)]

use std::net::SocketAddr;
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
    /// Reads the request and closes without a byte of answer (a pooled connection dying).
    CloseUnanswered,
    /// 101 to any request, then echoes bytes (an upstream that would accept h2c).
    SwitchProtocols,
}

/// A raw upstream that records every request head (lower-cased) and answers by script.
pub struct ScriptedUpstream {
    pub addr: SocketAddr,
    pub heads: Arc<Mutex<Vec<String>>>,
}

impl ScriptedUpstream {
    pub async fn start(script: fn(usize) -> Reply) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind upstream");
        let addr = listener.local_addr().expect("addr");
        let heads = Arc::new(Mutex::new(Vec::new()));
        let recorded = heads.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve_scripted(stream, script, recorded.clone()));
            }
        });
        Self { addr, heads }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn heads(&self) -> Vec<String> {
        self.heads.lock().expect("heads lock").clone()
    }
}

async fn serve_scripted(
    mut stream: TcpStream,
    script: fn(usize) -> Reply,
    heads: Arc<Mutex<Vec<String>>>,
) {
    let mut buffer = Vec::new();
    for index in 0.. {
        let head_end = loop {
            if let Some(end) = find(&buffer, b"\r\n\r\n") {
                break end + 4;
            }
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
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
                Ok(0) | Err(_) => return,
                Ok(read) => buffer.extend_from_slice(&chunk[..read]),
            }
        }
        buffer.drain(..head_end + length);
        heads.lock().expect("heads lock").push(head);
        match script(index) {
            Reply::Ok => {
                let answer = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
                if stream.write_all(answer).await.is_err() {
                    return;
                }
            }
            Reply::CloseUnanswered => return,
            Reply::SwitchProtocols => {
                let answer = b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n";
                if stream.write_all(answer).await.is_err() {
                    return;
                }
                let (mut read, mut write) = stream.split();
                let _ = tokio::io::copy(&mut read, &mut write).await;
                return;
            }
        }
    }
}
