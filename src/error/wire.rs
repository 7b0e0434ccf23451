//! The wire form of an `ApiError`: the App Services JSON body (`error`, `error_code`, the
//! request id) and the headers and response extensions its fields ask for.

use serde::Serialize;

use super::{ApiError, CloseConnection, ErrorCode, Refusal};
use crate::web::{self, Body};

#[derive(Serialize)]
struct WireError<'a> {
    error: &'a str,
    error_code: ErrorCode,
    /// The request's id (`server.request_id_header`), when answered inside a request.
    #[serde(skip_serializing_if = "Option::is_none")]
    request_id: Option<String>,
}

#[derive(Serialize)]
struct WireErrorWith<'a, T> {
    #[serde(flatten)]
    error: WireError<'a>,
    #[serde(flatten)]
    details: &'a T,
}

impl ApiError {
    pub fn into_response(self) -> http::Response<Body> {
        self.into_response_with(&serde_json::Map::new())
    }

    /// The error body with the fields of `details` beside `error` and `error_code` (an
    /// import's report).
    pub fn into_response_with<T: Serialize>(self, details: &T) -> http::Response<Body> {
        let request_id = web::REQUEST_ID
            .try_with(|id| id.to_str().ok().map(str::to_owned))
            .ok()
            .flatten();
        let body = WireErrorWith {
            error: WireError {
                error: &self.message,
                error_code: self.code,
                request_id,
            },
            details,
        };
        let mut response = web::json(self.status, &body);
        if let Some(allow) = self.allow {
            response
                .headers_mut()
                .insert(http::header::ALLOW, http::HeaderValue::from_static(allow));
        }
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(http::header::RETRY_AFTER, http::HeaderValue::from(seconds));
        }
        if let Some(reason) = self.reason {
            response.extensions_mut().insert(Refusal(reason));
        }
        if self.close {
            response.extensions_mut().insert(CloseConnection);
        }
        response
    }
}
