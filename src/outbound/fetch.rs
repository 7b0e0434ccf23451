//! `Fetcher`: one request, one complete answer — within a deadline, with a bounded body. For
//! the login webhooks, a custom-token JWKS URL and the admin CLI.
//!
//! Does not interpret answers and never follows redirects; the callers decide what a status
//! or body means.

use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};

use super::HttpsClient;

/// Why a call gave no usable answer. Carries what a log line needs, never a body.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// Connection refused or reset, TLS failure (an untrusted certificate), malformed HTTP.
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

/// A pooled client; clones share the pool.
#[derive(Clone)]
pub struct Fetcher {
    client: HttpsClient<Full<Bytes>>,
}

impl Fetcher {
    pub(super) fn new(client: HttpsClient<Full<Bytes>>) -> Self {
        Self { client }
    }

    /// Sends `request` and reads the answer of at most `limit` bytes, all within `timeout`.
    pub async fn send(
        &self,
        request: Request<Full<Bytes>>,
        timeout: Duration,
        limit: usize,
    ) -> Result<Answer, FetchError> {
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|err| FetchError::Unavailable(crate::telemetry::error_chain(&err)))?;
            let status = response.status();
            let body = match Limited::new(response.into_body(), limit).collect().await {
                Ok(collected) => collected.to_bytes(),
                Err(err) if err.downcast_ref::<LengthLimitError>().is_some() => {
                    return Err(FetchError::TooLarge(limit));
                }
                Err(err) => {
                    return Err(FetchError::Unavailable(crate::telemetry::error_chain(
                        err.as_ref(),
                    )));
                }
            };
            Ok(Answer { status, body })
        };
        tokio::time::timeout(timeout, exchange)
            .await
            .unwrap_or(Err(FetchError::Timeout(timeout)))
    }
}
