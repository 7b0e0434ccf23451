//! The request id layer: every request gets an id (`server.request_id_header`), kept from a
//! trusted proxy or made here; its log lines carry it (from `web::REQUEST_ID` in the plain text
//! format, a `request` span in the others), its error bodies too, and the response returns it.
//!
//! # Security
//! Only a peer in `server.trusted_proxies` may choose the id: from anyone else it is replaced,
//! or a client could make its log lines pass for another request's.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::{HeaderName, HeaderValue, Request, Response};
use pin_project_lite::pin_project;
use tokio::task::futures::TaskLocalFuture;
use tower::{Layer, Service};
use tracing::Instrument;
use tracing::instrument::Instrumented;

use crate::ids;
use crate::proxy::forwarded::TrustedProxies;
use crate::server::ConnInfo;
use crate::{telemetry, web};

/// Longest request id kept from a trusted proxy.
const MAX_REQUEST_ID: usize = 128;

#[derive(Clone, Copy)]
pub struct RequestIdLayer<'a> {
    trusted: &'a TrustedProxies,
    header: &'a HeaderName,
    conn: ConnInfo,
}

impl<'a> RequestIdLayer<'a> {
    pub fn new(trusted: &'a TrustedProxies, header: &'a HeaderName, conn: ConnInfo) -> Self {
        Self {
            trusted,
            header,
            conn,
        }
    }

    /// The request's id: the one a trusted proxy sent (visible ASCII, at most 128 bytes), else
    /// a new one.
    fn id_of<B>(&self, request: &Request<B>) -> HeaderValue {
        let kept = self
            .trusted
            .contains(self.conn.remote.ip())
            .then(|| request.headers().get(self.header))
            .flatten()
            .filter(|value| {
                !value.is_empty()
                    && value.len() <= MAX_REQUEST_ID
                    && value.as_bytes().iter().all(|b| b.is_ascii_graphic())
            });
        match kept {
            Some(value) => value.clone(),
            None => {
                HeaderValue::from_bytes(&ids::request_id()).expect("hex is a valid header value")
            }
        }
    }
}

impl<'a, S> Layer<S> for RequestIdLayer<'a> {
    type Service = RequestIdService<'a, S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequestIdService {
            layer: *self,
            inner,
        }
    }
}

pub struct RequestIdService<'a, S> {
    layer: RequestIdLayer<'a>,
    inner: S,
}

impl<'a, S, B, R> Service<Request<B>> for RequestIdService<'a, S>
where
    S: Service<Request<B>, Response = Response<R>>,
{
    type Response = Response<R>;
    type Error = S::Error;
    type Future = RequestIdFuture<'a, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let id = self.layer.id_of(&request);
        // The plain text format writes the id from `web::REQUEST_ID`: no span needed there.
        let span = if telemetry::request_spans() {
            tracing::info_span!("request", id = %id.to_str().unwrap_or("-"))
        } else {
            tracing::Span::none()
        };
        // The inner layers make their answers when polled, not in `call`: inside this scope.
        let answer = web::REQUEST_ID.scope(id.clone(), self.inner.call(request));
        RequestIdFuture {
            inner: answer.instrument(span),
            header: self.layer.header,
            id: Some(id),
        }
    }
}

pin_project! {
    /// The inner answer, run as the request (span and `web::REQUEST_ID`); its response gets
    /// the id header.
    pub struct RequestIdFuture<'a, F: Future> {
        #[pin]
        inner: Instrumented<TaskLocalFuture<HeaderValue, F>>,
        header: &'a HeaderName,
        id: Option<HeaderValue>,
    }
}

impl<F, R, E> Future for RequestIdFuture<'_, F>
where
    F: Future<Output = Result<Response<R>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut result = std::task::ready!(this.inner.poll(cx));
        if let (Ok(response), Some(id)) = (&mut result, this.id.take()) {
            response.headers_mut().insert(*this.header, id);
        }
        Poll::Ready(result)
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::net::SocketAddr;

    use tower::ServiceExt;

    use super::*;

    const HEADER: HeaderName = HeaderName::from_static("x-request-id");

    fn conn(remote: &str) -> ConnInfo {
        ConnInfo {
            remote: remote.parse().expect("test address"),
            local: SocketAddr::from(([127, 0, 0, 1], 8080)),
            scheme: "http",
        }
    }

    /// The id the inner service saw.
    #[derive(Clone)]
    struct Seen(HeaderValue);

    /// The id the inner service saw (`web::REQUEST_ID`) and the one returned.
    async fn ids(trusted: &TrustedProxies, remote: &str, sent: Option<&str>) -> (String, String) {
        let service = tower::service_fn(|_: Request<()>| async move {
            let seen = web::request_id().expect("the layer scopes the id");
            let mut response = Response::new(());
            response.extensions_mut().insert(Seen(seen));
            Ok::<_, Infallible>(response)
        });
        let header = HEADER;
        let service = RequestIdLayer::new(trusted, &header, conn(remote)).layer(service);
        let mut request = Request::new(());
        if let Some(sent) = sent {
            let value = HeaderValue::from_str(sent).expect("test header");
            request.headers_mut().insert(HEADER, value);
        }
        let response = service.oneshot(request).await.expect("infallible");
        let returned = response.headers()[HEADER]
            .to_str()
            .expect("ascii")
            .to_owned();
        let seen = response.extensions().get::<Seen>().expect("echoed");
        (seen.0.to_str().expect("ascii").to_owned(), returned)
    }

    fn trusted() -> TrustedProxies {
        TrustedProxies::new(vec!["10.0.0.0/8".parse().expect("test cidr")])
    }

    #[tokio::test]
    async fn an_untrusted_peer_cannot_choose_the_id() {
        let (seen, returned) = ids(&trusted(), "192.0.2.7:5000", Some("forged-id")).await;
        assert_ne!(seen, "forged-id");
        assert_eq!(seen, returned);
        assert_eq!(seen.len(), 24, "a new id: {seen}");
    }

    #[tokio::test]
    async fn a_trusted_proxy_s_id_is_kept_and_returned() {
        let (seen, returned) = ids(&trusted(), "10.1.2.3:5000", Some("edge-abc-123")).await;
        assert_eq!(seen, "edge-abc-123");
        assert_eq!(returned, "edge-abc-123");
    }

    #[tokio::test]
    async fn a_trusted_proxy_s_unfit_id_is_replaced() {
        let long = "a".repeat(MAX_REQUEST_ID + 1);
        for sent in ["has space", long.as_str()] {
            let (seen, returned) = ids(&trusted(), "10.1.2.3:5000", Some(sent)).await;
            assert_ne!(seen, sent);
            assert_eq!(seen, returned);
        }
    }

    #[tokio::test]
    async fn each_request_gets_its_own_id() {
        let (first, _) = ids(&trusted(), "192.0.2.7:5000", None).await;
        let (second, _) = ids(&trusted(), "192.0.2.7:5000", None).await;
        assert_ne!(first, second);
    }
}
