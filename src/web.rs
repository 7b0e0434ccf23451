//! Small HTTP helpers shared by the gateway's own endpoints: the body type, JSON responses,
//! bounded body reading and request parsing.
//!
//! Does not route or authenticate; `client_api`, `admin` and `proxy` do.

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderMap, HeaderValue, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Boxed error of every body the gateway sends.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The response body type of both listeners: our JSON or a streamed upstream body.
pub type Body = BoxBody<Bytes, BoxError>;

/// Where a request came from, as recorded on its session.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    pub ip: Option<std::net::IpAddr>,
    pub user_agent: Option<String>,
}

/// Why a request body was not read or parsed (`crate::error` answers each: 413, 400, 408).
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// Larger than the limit, by its `Content-Length` or by what arrived.
    #[error("request body is larger than {0} bytes")]
    TooLarge(usize),
    /// Broken framing, or the client hung up.
    #[error("request body could not be read")]
    Unreadable,
    /// Not JSON, or not the JSON the operation takes.
    #[error("invalid JSON body: {0}")]
    InvalidJson(String),
    /// Not received within `server.body_read_timeout`.
    #[error("request body was not received in time")]
    TimedOut,
}

/// What every handler knows about the request beyond its head and body.
#[derive(Debug, Clone)]
pub struct RequestContext {
    /// The peer of the TCP connection.
    pub remote: std::net::SocketAddr,
    /// The listener's own address.
    pub local: std::net::SocketAddr,
    /// `"http"` or `"https"` (the listener's).
    pub scheme: &'static str,
    /// The one normalized path (see `proxy::path`).
    pub path: String,
    /// `:authority` of HTTP/2 requests (HTTP/1 carries `Host`).
    pub authority: Option<String>,
    /// Client IP and user agent, as recorded on sessions.
    pub client: ClientInfo,
    /// The TCP peer is one of `server.trusted_proxies`: its forwarding headers count.
    pub peer_trusted: bool,
    /// Unix seconds when the request arrived.
    pub now: i64,
}

tokio::task_local! {
    /// The id of the request being answered: error bodies carry it, so a client's complaint
    /// leads to the log line.
    pub static REQUEST_ID: HeaderValue;
}

/// The id of the request being answered (`REQUEST_ID`); `None` outside a request.
pub fn request_id() -> Option<HeaderValue> {
    REQUEST_ID.try_with(HeaderValue::clone).ok()
}

/// A complete body from bytes.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed()
}

pub fn empty() -> Body {
    full(Bytes::new())
}

/// A JSON response with the given status.
pub fn json<T: Serialize>(status: StatusCode, value: &T) -> Response<Body> {
    let mut bytes = serde_json::to_vec(value).expect("our response types always serialize");
    // A final newline keeps curl output readable; JSON parsers ignore it.
    bytes.push(b'\n');
    let mut response = Response::new(full(bytes));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// An empty response with the given status (204, 201 without body).
pub fn status(status: StatusCode) -> Response<Body> {
    let mut response = Response::new(empty());
    *response.status_mut() = status;
    response
}

/// Reads a body of at most `limit` bytes; larger is 413 before anything more is read.
pub async fn read_body<B>(headers: &HeaderMap, body: B, limit: usize) -> Result<Bytes, BodyError>
where
    B: http_body::Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(BodyError::TooLarge(limit));
    }
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(err) if err.downcast_ref::<LengthLimitError>().is_some() => {
            Err(BodyError::TooLarge(limit))
        }
        Err(_) => Err(BodyError::Unreadable),
    }
}

/// Parses a JSON body whatever its `Content-Type` says: the App Services docs' own curls send
/// JSON with `--data-raw` and no JSON content type (curl then says
/// `application/x-www-form-urlencoded`), and App Services read it as JSON. An empty body reads
/// as `{}` (curl's bare `-X POST`); a body that is not JSON is 400 naming what is wrong.
pub fn parse_json<T: DeserializeOwned>(_headers: &HeaderMap, bytes: &[u8]) -> Result<T, BodyError> {
    let bytes = if bytes.iter().all(u8::is_ascii_whitespace) {
        b"{}".as_slice()
    } else {
        bytes
    };
    serde_json::from_slice(bytes).map_err(|err| BodyError::InvalidJson(err.to_string()))
}

/// Deserializes an optional whole number a client may write as `1800` or `1800.0`: JSON Schema
/// (and so the OpenAPI description and tools generating requests from it) counts both as
/// integers, serde's integer types accept only the first. A fraction, or a value out of `T`'s
/// range, is refused as before.
pub fn whole_number<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: TryFrom<i64> + TryFrom<u64>,
{
    use serde::de::Error;
    let Some(number) = Option::<serde_json::Number>::deserialize(deserializer)? else {
        return Ok(None);
    };
    let out_of_range = || D::Error::custom(format!("{number} is not a whole number in range"));
    if let Some(value) = number.as_u64() {
        return T::try_from(value).map(Some).map_err(|_| out_of_range());
    }
    if let Some(value) = number.as_i64() {
        return T::try_from(value).map(Some).map_err(|_| out_of_range());
    }
    match number.as_f64() {
        // `i64::MIN` and `u64::MAX` as f64 are -2^63 and 2^64, exactly: every whole value
        // between converts without loss.
        Some(value)
            if value.fract() == 0.0 && value >= i64::MIN as f64 && value < u64::MAX as f64 =>
        {
            let whole = if value >= 0.0 {
                T::try_from(value as u64).ok()
            } else {
                T::try_from(value as i64).ok()
            };
            whole.map(Some).ok_or_else(out_of_range)
        }
        _ => Err(out_of_range()),
    }
}

/// Reads a body bounded in size (`server.max_body_bytes`, else 413) and in time
/// (`server.body_read_timeout`, else 408 and the connection closed), and parses it as JSON
/// (`read_body` + `parse_json`).
pub async fn read_json<T: DeserializeOwned>(
    request: http::Request<hyper::body::Incoming>,
    limits: &crate::config::ServerConfig,
) -> Result<T, BodyError> {
    let (parts, body) = request.into_parts();
    let read = read_body(&parts.headers, body, limits.max_body_bytes);
    let bytes = tokio::time::timeout(limits.body_read_timeout, read)
        .await
        .map_err(|_| BodyError::TimedOut)??;
    parse_json(&parts.headers, &bytes)
}

/// Total bytes of a header block as a client sent it (names, values, separators).
pub fn header_bytes(headers: &HeaderMap) -> usize {
    headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{ApiError, ErrorCode};

    #[derive(serde::Deserialize, Debug)]
    struct Login {
        #[serde(default)]
        username: String,
    }

    fn headers(content_type: Option<&str>) -> HeaderMap {
        let mut map = HeaderMap::new();
        if let Some(ct) = content_type {
            map.insert(CONTENT_TYPE, HeaderValue::from_str(ct).unwrap());
        }
        map
    }

    #[test]
    fn empty_body_reads_as_empty_object() {
        let login: Login = parse_json(&headers(None), b"").unwrap();
        assert_eq!(login.username, "");
    }

    #[test]
    fn json_is_read_whatever_the_content_type_and_anything_else_is_400() {
        let login: Login = parse_json(
            &headers(Some("application/x-www-form-urlencoded")),
            br#"{"username": "a@b.c"}"#,
        )
        .unwrap();
        assert_eq!(login.username, "a@b.c");
        for content_type in [
            Some("application/x-www-form-urlencoded"),
            Some("text/html"),
            None,
        ] {
            let err =
                ApiError::from(parse_json::<Login>(&headers(content_type), b"a=b").unwrap_err());
            assert_eq!(err.status, StatusCode::BAD_REQUEST, "{content_type:?}");
        }
        let err = ApiError::from(
            parse_json::<Login>(
                &headers(Some("application/json; charset=utf-8")),
                b"{not json",
            )
            .unwrap_err(),
        );
        assert_eq!(err.status, StatusCode::BAD_REQUEST);
        assert_eq!(err.code, ErrorCode::BadRequest);
    }

    #[derive(serde::Deserialize, Debug)]
    struct Seconds {
        #[serde(default, deserialize_with = "whole_number")]
        seconds: Option<u64>,
    }

    #[test]
    fn whole_numbers_may_be_written_with_a_zero_fraction() {
        let read = |json: &str| serde_json::from_str::<Seconds>(json).map(|s| s.seconds);
        assert_eq!(read(r#"{"seconds": 1800}"#).unwrap(), Some(1800));
        assert_eq!(read(r#"{"seconds": 1800.0}"#).unwrap(), Some(1800));
        assert_eq!(read(r#"{"seconds": 1.8e3}"#).unwrap(), Some(1800));
        assert_eq!(read(r#"{"seconds": null}"#).unwrap(), None);
        assert_eq!(read("{}").unwrap(), None);
        for refused in [
            r#"{"seconds": 1800.5}"#,
            r#"{"seconds": -1}"#,
            r#"{"seconds": -1.0}"#,
            r#"{"seconds": 1e300}"#,
            r#"{"seconds": "1800"}"#,
        ] {
            assert!(read(refused).is_err(), "{refused}");
        }
    }

    #[tokio::test]
    async fn oversized_body_is_413_even_without_content_length() {
        let body = Full::new(Bytes::from(vec![b'a'; 2048]));
        let err = ApiError::from(read_body(&HeaderMap::new(), body, 1024).await.unwrap_err());
        assert_eq!(err.status, StatusCode::PAYLOAD_TOO_LARGE);
    }
}
