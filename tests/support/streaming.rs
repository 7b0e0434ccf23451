//! Upstreams that never stop talking, for the stream-closing tests: a WebSocket server that
//! sends binary frames back to back (each written in two pieces, so a frame is often in flight)
//! and records the close frames it receives, and an HTTP server whose chunked response never
//! ends. Both run on port 0 and serve any number of connections.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;

use super::websocket::{accept_key, header, read_frame, read_head};

/// Payload length of every frame the firehose sends (16-bit length form), all `b'a'`.
pub const FIREHOSE_FRAME: usize = 3000;

pub struct WsFirehose {
    pub addr: SocketAddr,
    /// Close codes received from the gateway, in order.
    closes: Arc<Mutex<Vec<u16>>>,
}

impl WsFirehose {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let closes = Arc::new(Mutex::new(Vec::new()));
        let seen = closes.clone();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let seen = seen.clone();
                tokio::spawn(async move {
                    let Some(head) = read_head(&mut stream).await else {
                        return;
                    };
                    let key = header(&head, "sec-websocket-key").unwrap_or_default();
                    let answer = format!(
                        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
                         Connection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
                        accept_key(&key)
                    );
                    if stream.write_all(answer.as_bytes()).await.is_err() {
                        return;
                    }
                    let std = stream.into_std().expect("std stream");
                    let reader = tokio::net::TcpStream::from_std(std.try_clone().expect("clone"))
                        .expect("reader");
                    let mut writer = tokio::net::TcpStream::from_std(std).expect("writer");
                    tokio::spawn(async move {
                        let mut reader = reader;
                        while let Some((opcode, payload)) = read_frame(&mut reader).await {
                            if opcode == 0x8 && payload.len() >= 2 {
                                let code = u16::from_be_bytes([payload[0], payload[1]]);
                                seen.lock().expect("closes").push(code);
                            }
                        }
                    });
                    let mut frame = vec![0x82, 126];
                    frame.extend_from_slice(&(FIREHOSE_FRAME as u16).to_be_bytes());
                    frame.extend(std::iter::repeat_n(b'a', FIREHOSE_FRAME));
                    let (first, second) = frame.split_at(1000);
                    loop {
                        if writer.write_all(first).await.is_err() {
                            return;
                        }
                        tokio::task::yield_now().await;
                        if writer.write_all(second).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        Self { addr, closes }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn closes(&self) -> Vec<u16> {
        self.closes.lock().expect("closes").clone()
    }
}

/// An HTTP/1.1 server answering every request `200` with a chunked body of `tick\n` chunks,
/// one per `every`, that never ends.
pub async fn endless_chunks(every: Duration) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                if read_head(&mut stream).await.is_none() {
                    return;
                }
                let head = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\
                            Transfer-Encoding: chunked\r\n\r\n";
                if stream.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                let mut ticks = tokio::time::interval(every);
                loop {
                    ticks.tick().await;
                    if stream.write_all(b"5\r\ntick\n\r\n").await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}
