//! `Forwarder`: the pooled upstream client (HTTP/1.1, keep-alive, rustls for https) that
//! streams bodies both ways and passes protocol upgrades (WebSocket) through.
//!
//! Does not decide who may pass or rewrite headers; `proxy::handle` does that first.

use std::time::Duration;

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tracing::Instrument;

use crate::config::UpstreamConfig;

/// Why the upstream gave no answer.
#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    /// Connection refused, reset, TLS failure, malformed answer.
    #[error("upstream unavailable: {0}")]
    Unavailable(String),
    /// No response headers within `upstream.timeout`.
    #[error("upstream did not answer within {0:?}")]
    Timeout(Duration),
}

pub struct Forwarder {
    client: Client<HttpsConnector<HttpConnector>, Incoming>,
    timeout: Duration,
}

impl Forwarder {
    pub fn new(config: &UpstreamConfig) -> Self {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(config.connect_timeout));
        let https = HttpsConnectorBuilder::new()
            .with_webpki_roots()
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(config.pool_idle_timeout)
            .pool_timer(TokioTimer::new())
            .build(https);
        Self {
            client,
            timeout: config.timeout,
        }
    }

    /// Sends `request` upstream. When both sides agree to upgrade (101), the two upgraded
    /// connections are joined in a background task that lives as long as they do.
    pub async fn send(
        &self,
        mut request: Request<Incoming>,
    ) -> Result<Response<Incoming>, ForwardError> {
        let client_upgrade = request
            .headers()
            .contains_key(http::header::UPGRADE)
            .then(|| hyper::upgrade::on(&mut request));
        let pending = self.client.request(request);
        let mut response = match tokio::time::timeout(self.timeout, pending).await {
            Err(_) => return Err(ForwardError::Timeout(self.timeout)),
            Ok(Err(err)) => return Err(ForwardError::Unavailable(crate::web::error_chain(&err))),
            Ok(Ok(response)) => response,
        };
        if response.status() == StatusCode::SWITCHING_PROTOCOLS {
            if let Some(client_upgrade) = client_upgrade {
                let upstream_upgrade = hyper::upgrade::on(&mut response);
                tokio::spawn(
                    async move {
                        let (client, upstream) =
                            match tokio::try_join!(client_upgrade, upstream_upgrade) {
                                Ok(pair) => pair,
                                Err(err) => {
                                    tracing::debug!(error = %err, "upgrade failed");
                                    return;
                                }
                            };
                        let (mut client, mut upstream) =
                            (TokioIo::new(client), TokioIo::new(upstream));
                        if let Err(err) =
                            tokio::io::copy_bidirectional(&mut client, &mut upstream).await
                        {
                            tracing::debug!(error = %err, "upgraded connection ended");
                        }
                    }
                    .in_current_span(),
                );
            }
        }
        Ok(response)
    }
}
