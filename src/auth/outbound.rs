//! `Outbound`: the small HTTP client of the external login providers (the custom-function
//! webhook, a custom-token JWKS URL): hyper-util's pooled client with rustls for https, one
//! deadline for the whole exchange and a bounded answer body.
//!
//! Does not interpret answers and never follows redirects; the providers decide what a status
//! or body means.

use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};

/// Why a call gave no usable answer. Carries what a log line needs, never a body.
#[derive(Debug, thiserror::Error)]
pub enum OutboundError {
    /// Connection refused or reset, TLS failure, malformed HTTP.
    #[error("unreachable: {0}")]
    Unavailable(String),
    /// No complete answer (headers and body) within the deadline.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The answer body is larger than the caller accepts.
    #[error("answer larger than {0} bytes")]
    TooLarge(usize),
}

/// A complete answer.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub body: Bytes,
}

pub struct Outbound {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

/// Idle pooled connections are closed after this.
const POOL_IDLE: Duration = Duration::from_secs(30);

impl Outbound {
    pub fn new() -> Self {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        let https = HttpsConnectorBuilder::new()
            .with_webpki_roots()
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(POOL_IDLE)
            .pool_timer(TokioTimer::new())
            .build(https);
        Self { client }
    }

    /// Sends `request` and reads the answer of at most `limit` bytes, all within `timeout`.
    pub async fn send(
        &self,
        request: Request<Full<Bytes>>,
        timeout: Duration,
        limit: usize,
    ) -> Result<Answer, OutboundError> {
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|err| OutboundError::Unavailable(crate::web::error_chain(&err)))?;
            let status = response.status();
            let body = match Limited::new(response.into_body(), limit).collect().await {
                Ok(collected) => collected.to_bytes(),
                Err(err) if err.downcast_ref::<LengthLimitError>().is_some() => {
                    return Err(OutboundError::TooLarge(limit));
                }
                Err(err) => return Err(OutboundError::Unavailable(err.to_string())),
            };
            Ok(Answer { status, body })
        };
        tokio::time::timeout(timeout, exchange)
            .await
            .unwrap_or(Err(OutboundError::Timeout(timeout)))
    }
}

impl Default for Outbound {
    fn default() -> Self {
        Self::new()
    }
}
