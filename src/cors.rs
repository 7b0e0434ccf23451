//! CORS for browser apps on other origins (`[cors]`): the policy built from config, the
//! gateway's answer to a preflight, and the headers added to every other response.
//!
//! Used on the client listener only (`app::pipeline`), for the gateway's own endpoints and
//! the proxy routes that leave CORS to the gateway; the admin listener is private and answers
//! no cross-origin browser. Does not route: the pipeline's CORS layer decides where the policy applies.
//!
//! # Security
//! Origins are compared byte for byte with the configured list (no patterns, no `null`), so
//! `https://app.example.com.evil.test` or `https://app.example.com:8443` never match
//! `https://app.example.com`. On routes where the gateway answers CORS it is the only voice:
//! an upstream's own `Access-Control-*` headers are removed, so it cannot widen the policy.

use http::header::{
    ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS,
    ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE,
    ACCESS_CONTROL_REQUEST_HEADERS, ACCESS_CONTROL_REQUEST_METHOD, ORIGIN, VARY,
};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode};

use crate::config::CorsConfig;
use crate::error::ApiError;
use crate::web::{self, Body};

/// Methods a preflight may ask for.
const METHODS: &[&str] = &["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"];

/// Request headers always allowed: what the SDKs send (`realm-web`: `Accept`, `Content-Type`,
/// `Authorization`) and Agnost's `Session`; the request id header and `[cors] allowed_headers`
/// join them.
const HEADERS: &[&str] = &[
    "accept",
    "accept-language",
    "content-language",
    "content-type",
    "authorization",
    "session",
];

/// The CORS policy of the client listener.
#[derive(Debug)]
pub struct Cors {
    origins: Origins,
    /// `Access-Control-Allow-Credentials: true` on every answer to an allowed origin.
    credentials: bool,
    /// Lower-case names a preflight may ask for.
    allowed_headers: Vec<HeaderName>,
    allow_methods: HeaderValue,
    allow_headers: HeaderValue,
    expose_headers: HeaderValue,
    max_age: HeaderValue,
}

#[derive(Debug)]
enum Origins {
    /// `[cors]` not configured: the gateway adds nothing and answers no preflight.
    Off,
    /// `["*"]`: every origin (never with credentials: refused at load).
    Any,
    Listed(Vec<HeaderValue>),
}

/// `OPTIONS` with `Origin` and `Access-Control-Request-Method`: a browser's preflight. An
/// `OPTIONS` without them is an ordinary request.
pub fn is_preflight(method: &Method, headers: &HeaderMap) -> bool {
    method == Method::OPTIONS
        && headers.contains_key(ORIGIN)
        && headers.contains_key(ACCESS_CONTROL_REQUEST_METHOD)
}

impl Cors {
    /// The policy of `config`; `request_id_header` is allowed and exposed.
    pub fn new(config: &CorsConfig, request_id_header: &HeaderName) -> Self {
        let origins = if config.allowed_origins.is_empty() {
            Origins::Off
        } else if config.allowed_origins.iter().any(|o| o == "*") {
            Origins::Any
        } else {
            Origins::Listed(
                config
                    .allowed_origins
                    .iter()
                    .filter_map(|o| HeaderValue::from_str(o).ok())
                    .collect(),
            )
        };
        let mut allowed_headers: Vec<HeaderName> = HEADERS
            .iter()
            .map(|name| HeaderName::from_static(name))
            .collect();
        for name in std::iter::once(request_id_header).chain(&config.allowed_headers) {
            if !allowed_headers.contains(name) {
                allowed_headers.push(name.clone());
            }
        }
        let list = |names: &mut dyn Iterator<Item = &str>| {
            HeaderValue::from_str(&names.collect::<Vec<_>>().join(", "))
                .expect("header names and methods are valid header text")
        };
        Self {
            origins,
            credentials: config.allow_credentials,
            allow_methods: list(&mut METHODS.iter().copied()),
            allow_headers: list(&mut allowed_headers.iter().map(HeaderName::as_str)),
            expose_headers: list(&mut std::iter::once(request_id_header.as_str())),
            max_age: HeaderValue::from(config.max_age.as_secs()),
            allowed_headers,
        }
    }

    /// Whether `[cors]` allows any origin at all.
    pub fn enabled(&self) -> bool {
        !matches!(self.origins, Origins::Off)
    }

    fn allows(&self, origin: &HeaderValue) -> bool {
        match &self.origins {
            Origins::Off => false,
            Origins::Any => true,
            Origins::Listed(origins) => origins.iter().any(|o| o == origin),
        }
    }

    /// The gateway's answer to a preflight: 204 with the policy for an allowed origin asking
    /// for an allowed method and headers, else 403 JSON without CORS headers (the browser then
    /// refuses the real request). `None` when the request is no preflight or CORS is off: it
    /// goes where it would have gone anyway.
    pub fn preflight<B>(&self, request: &Request<B>) -> Option<Response<Body>> {
        let headers = request.headers();
        if !self.enabled() || !is_preflight(request.method(), headers) {
            return None;
        }
        let origin = headers.get(ORIGIN)?;
        let mut response = match self.check_preflight(origin, headers) {
            Err(err) => err.into_response(),
            Ok(()) => {
                let mut response = web::status(StatusCode::NO_CONTENT);
                let out = response.headers_mut();
                out.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
                if self.credentials {
                    out.insert(
                        ACCESS_CONTROL_ALLOW_CREDENTIALS,
                        HeaderValue::from_static("true"),
                    );
                }
                out.insert(ACCESS_CONTROL_ALLOW_METHODS, self.allow_methods.clone());
                out.insert(ACCESS_CONTROL_ALLOW_HEADERS, self.allow_headers.clone());
                out.insert(ACCESS_CONTROL_MAX_AGE, self.max_age.clone());
                response
            }
        };
        response.headers_mut().insert(
            VARY,
            HeaderValue::from_static(
                "Origin, Access-Control-Request-Method, Access-Control-Request-Headers",
            ),
        );
        Some(response)
    }

    fn check_preflight(&self, origin: &HeaderValue, headers: &HeaderMap) -> Result<(), ApiError> {
        if !self.allows(origin) {
            return Err(ApiError::cors_refused(
                "origin not allowed ([cors] allowed_origins)",
                "cors_origin",
            ));
        }
        let method = headers
            .get(ACCESS_CONTROL_REQUEST_METHOD)
            .map(HeaderValue::as_bytes)
            .unwrap_or_default();
        if !METHODS.iter().any(|m| m.as_bytes() == method) {
            return Err(ApiError::cors_refused(
                format!(
                    "method {:?} not allowed; allowed: {}",
                    String::from_utf8_lossy(method),
                    METHODS.join(", ")
                ),
                "cors_method",
            ));
        }
        for value in headers.get_all(ACCESS_CONTROL_REQUEST_HEADERS) {
            let text = value.to_str().unwrap_or("\u{fffd}");
            for name in text.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                let allowed = self
                    .allowed_headers
                    .iter()
                    .any(|a| a.as_str().eq_ignore_ascii_case(name));
                if !allowed {
                    return Err(ApiError::cors_refused(
                        format!(
                            "request header {name:?} not allowed; add it to [cors] allowed_headers"
                        ),
                        "cors_header",
                    ));
                }
            }
        }
        Ok(())
    }

    /// Adds the policy to a response (not a preflight's) to a request from `origin`: any
    /// `Access-Control-*` header already there (an upstream's) is removed, `Vary: Origin` is
    /// added, and for an allowed origin `Access-Control-Allow-Origin` (echoed), the
    /// credentials flag and `Access-Control-Expose-Headers`. Does nothing when CORS is off.
    pub fn decorate(&self, response: &mut Response<Body>, origin: Option<&HeaderValue>) {
        if !self.enabled() {
            return;
        }
        let headers = response.headers_mut();
        let foreign: Vec<HeaderName> = headers
            .keys()
            .filter(|name| name.as_str().starts_with("access-control-"))
            .cloned()
            .collect();
        for name in foreign {
            headers.remove(name);
        }
        add_vary_origin(headers);
        let Some(origin) = origin.filter(|origin| self.allows(origin)) else {
            return;
        };
        headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
        if self.credentials {
            headers.insert(
                ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
        }
        headers.insert(ACCESS_CONTROL_EXPOSE_HEADERS, self.expose_headers.clone());
    }
}

/// Appends `Origin` to `Vary` unless it is there already (or `Vary: *`).
fn add_vary_origin(headers: &mut HeaderMap) {
    let present = headers.get_all(VARY).iter().any(|value| {
        value
            .to_str()
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .any(|v| v == "*" || v.eq_ignore_ascii_case("origin"))
    });
    if !present {
        headers.append(VARY, HeaderValue::from_static("Origin"));
    }
}

#[cfg(test)]
mod tests;
