//! A real WebSocket endpoint and client over TCP, written to RFC 6455 (handshake with the
//! SHA-1 accept key, masked client frames, text echo), for the browser-token tests.
//!
//! `WsUpstream` accepts any number of connections: it records each handshake head, answers
//! 101 choosing the first protocol offered (if any), and echoes text frames until a close.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key`.
pub fn accept_key(key: &str) -> String {
    let digest = ring::digest::digest(
        &ring::digest::SHA1_FOR_LEGACY_USE_ONLY,
        format!("{key}{GUID}").as_bytes(),
    );
    STANDARD.encode(digest.as_ref())
}

pub struct WsUpstream {
    pub addr: SocketAddr,
    heads: Arc<Mutex<Vec<String>>>,
}

impl WsUpstream {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let heads = Arc::new(Mutex::new(Vec::new()));
        let seen = heads.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, seen.clone()));
            }
        });
        Self { addr, heads }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request head received so far, lower-cased.
    pub fn heads(&self) -> Vec<String> {
        self.heads.lock().expect("heads").clone()
    }
}

async fn serve(mut stream: TcpStream, heads: Arc<Mutex<Vec<String>>>) {
    let Some(head) = read_head(&mut stream).await else {
        return;
    };
    let lower = head.to_ascii_lowercase();
    heads.lock().expect("heads").push(lower.clone());
    let key = header(&head, "sec-websocket-key");
    if !lower.contains("\r\nupgrade: websocket\r\n") || key.is_none() {
        let body = "{\"upgraded\":false}";
        let answer = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let _ = stream.write_all(answer.as_bytes()).await;
        return;
    }
    let chosen = header(&head, "sec-websocket-protocol")
        .and_then(|list| list.split(',').next().map(|p| p.trim().to_owned()))
        .map(|p| format!("Sec-WebSocket-Protocol: {p}\r\n"))
        .unwrap_or_default();
    let answer = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\n{chosen}\r\n",
        accept_key(&key.unwrap_or_default())
    );
    if stream.write_all(answer.as_bytes()).await.is_err() {
        return;
    }
    while let Some((opcode, payload)) = read_frame(&mut stream).await {
        match opcode {
            0x8 => {
                let _ = write_frame(&mut stream, 0x8, &payload, false).await;
                return;
            }
            0x9 => {
                let _ = write_frame(&mut stream, 0xA, &payload, false).await;
            }
            0x1 | 0x2
                if write_frame(&mut stream, opcode, &payload, false)
                    .await
                    .is_err() =>
            {
                return;
            }
            _ => {}
        }
    }
}

/// The value of the first header `name` (case-insensitive) in a request or response head.
pub fn header(head: &str, name: &str) -> Option<String> {
    head.split("\r\n").skip(1).find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.trim()
            .eq_ignore_ascii_case(name)
            .then(|| value.trim().to_owned())
    })
}

/// Reads up to the end of a head (`\r\n\r\n`); the bytes after it stay unread.
pub async fn read_head(stream: &mut TcpStream) -> Option<String> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read_exact(&mut byte).await.is_err() || head.len() > 64 * 1024 {
            return None;
        }
        head.push(byte[0]);
    }
    Some(String::from_utf8_lossy(&head).into_owned())
}

/// One frame: opcode and (unmasked) payload. Fragmentation is not needed here.
pub async fn read_frame(stream: &mut TcpStream) -> Option<(u8, Vec<u8>)> {
    let mut two = [0u8; 2];
    stream.read_exact(&mut two).await.ok()?;
    let opcode = two[0] & 0x0F;
    let masked = two[1] & 0x80 != 0;
    let len = match two[1] & 0x7F {
        126 => {
            let mut ext = [0u8; 2];
            stream.read_exact(&mut ext).await.ok()?;
            u64::from(u16::from_be_bytes(ext))
        }
        127 => {
            let mut ext = [0u8; 8];
            stream.read_exact(&mut ext).await.ok()?;
            u64::from_be_bytes(ext)
        }
        n => u64::from(n),
    };
    if len > 1 << 20 {
        return None;
    }
    let mut mask = [0u8; 4];
    if masked {
        stream.read_exact(&mut mask).await.ok()?;
    }
    let mut payload = vec![0u8; usize::try_from(len).ok()?];
    stream.read_exact(&mut payload).await.ok()?;
    if masked {
        for (i, byte) in payload.iter_mut().enumerate() {
            *byte ^= mask[i % 4];
        }
    }
    Some((opcode, payload))
}

/// Writes one final frame; clients must mask (`masked`), servers must not.
pub async fn write_frame(
    stream: &mut TcpStream,
    opcode: u8,
    payload: &[u8],
    masked: bool,
) -> std::io::Result<()> {
    let mut frame = vec![0x80 | opcode];
    let mask_bit = if masked { 0x80 } else { 0 };
    match payload.len() {
        n if n < 126 => frame.push(mask_bit | u8::try_from(n).expect("small")),
        n if n <= usize::from(u16::MAX) => {
            frame.push(mask_bit | 126);
            frame.extend_from_slice(&u16::try_from(n).expect("fits").to_be_bytes());
        }
        n => {
            frame.push(mask_bit | 127);
            frame.extend_from_slice(&u64::try_from(n).expect("fits").to_be_bytes());
        }
    }
    if masked {
        let mask = [0x37, 0xfa, 0x21, 0x3d];
        frame.extend_from_slice(&mask);
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    } else {
        frame.extend_from_slice(payload);
    }
    stream.write_all(&frame).await
}

/// A client handshake: `GET path` on `addr` with the extra header lines given (each ending
/// in `\r\n`). Returns the stream (positioned after the response head) and that head.
pub async fn handshake(addr: SocketAddr, target: &str, extra: &str) -> (TcpStream, String) {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let request = format!(
        "GET {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Origin: https://app.example\r\n{extra}\r\n"
    );
    stream.write_all(request.as_bytes()).await.expect("write");
    let head = read_head(&mut stream).await.expect("response head");
    (stream, head)
}

/// Sends a masked text frame and returns the text echoed back.
pub async fn echo_text(stream: &mut TcpStream, text: &str) -> String {
    write_frame(stream, 0x1, text.as_bytes(), true)
        .await
        .expect("send frame");
    let (opcode, payload) = read_frame(stream).await.expect("echoed frame");
    assert_eq!(opcode, 0x1, "a text frame back");
    String::from_utf8(payload).expect("utf-8 echo")
}
