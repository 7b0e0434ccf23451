//! `Fetcher`: one request, one complete answer — within a deadline, with a bounded body. For
//! the login webhooks, a custom-token JWKS URL and the admin CLI.
//!
//! Does not interpret bodies and never follows redirects. A webhook caller reads an answer's
//! status as a [`StatusClass`] and reports a webhook that gave no usable answer as a
//! [`WebhookError`], which `crate::error` maps to 502 / 504 once for every webhook.

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

/// What an answer's status says to a webhook caller (redirects are never followed, so a 3xx
/// is an answer like any other).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusClass {
    /// 2xx.
    Success,
    /// 4xx: the webhook refused the request.
    ClientError,
    /// 1xx, 3xx, 5xx: the webhook is broken.
    Other,
}

impl StatusClass {
    pub fn of(status: StatusCode) -> Self {
        if status.is_success() {
            Self::Success
        } else if status.is_client_error() {
            Self::ClientError
        } else {
            Self::Other
        }
    }
}

impl Answer {
    pub fn class(&self) -> StatusClass {
        StatusClass::of(self.status)
    }
}

/// A webhook (custom-function login, local-userpass confirmation and reset) that gave no
/// usable answer, carrying the message the client sees; the caller logged the cause.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    /// No complete answer within the webhook's deadline.
    #[error("{0}")]
    TimedOut(&'static str),
    /// Unreachable, a refusing or unusable answer, or a request that could not be built.
    #[error("{0}")]
    Unavailable(&'static str),
}

impl WebhookError {
    /// The webhook error of a failed call: `timed_out` for a timeout, else `unavailable`.
    pub fn of(err: &FetchError, timed_out: &'static str, unavailable: &'static str) -> Self {
        match err {
            FetchError::Timeout(_) => Self::TimedOut(timed_out),
            FetchError::Unavailable(_) | FetchError::TooLarge(_) => Self::Unavailable(unavailable),
        }
    }
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
