//! The admin commands' HTTP client: finds the gateway, the admin key and the app id, then
//! sends one request at a time and hands back the status and JSON answer.
//!
//! Does not decide what an answer means for a command beyond the shared rules of
//! [`Answer::into_result`] (2xx is success, 401 is a refused admin key, the rest is the
//! gateway's error); commands with other rules (`token verify`) look at the answer first.
//!
//! # Security
//! The admin key only ever goes into the `Authorization` header, marked sensitive; it is never
//! printed, not even in errors.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, anyhow};
use bytes::Bytes;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, USER_AGENT};
use http::{HeaderValue, Method, Request, StatusCode};
use http_body_util::Full;
use serde_json::Value;
use url::Url;

use super::{AdminArgs, CliError};
use crate::config::{self, Config, ConfigError, OutboundConfig};
use crate::outbound::{FetchError, Fetcher, Outbound};

/// Environment variable with the admin key (the same one `serve` reads).
const ADMIN_KEY_ENV: &str = "SESSIONGATE_ADMIN__API_KEY";
/// Used when neither `--url` nor a config file says where the admin listener is.
const DEFAULT_URL: &str = "http://127.0.0.1:8081";
/// Time allowed to open the TCP connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Time allowed for the whole exchange (creating a user hashes a password, so not too short).
const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest answer read (a page of 1000 users fits many times over).
const MAX_ANSWER_BYTES: usize = 32 * 1024 * 1024;

/// A client of one app's admin API.
pub struct AdminClient {
    http: Fetcher,
    /// `{url}/api/admin/v3.0/groups/{group}/apps/{app}`.
    base: Url,
    authorization: HeaderValue,
}

/// The gateway's answer: its status and its JSON body (`Null` when empty; a body that is not
/// JSON is kept as a string so errors can still show it).
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub body: Value,
}

impl Answer {
    /// 2xx: the body. 401: the admin key was refused (exit 77). Else the gateway's error.
    pub fn into_result(self) -> Result<Value, CliError> {
        if self.status.is_success() {
            return Ok(self.body);
        }
        let (error, error_code) = self.error();
        if self.status == StatusCode::UNAUTHORIZED {
            return Err(CliError::NoPermission(format!(
                "the gateway refused the admin key: {error}"
            )));
        }
        Err(CliError::Api {
            status: self.status.as_u16(),
            error,
            error_code,
        })
    }

    /// The App Services error fields, or what stands in for them.
    pub fn error(&self) -> (String, Option<String>) {
        let error = match &self.body {
            Value::Object(map) => map.get("error").and_then(Value::as_str).map(str::to_owned),
            Value::String(text) if !text.trim().is_empty() => Some(text.trim().to_owned()),
            _ => None,
        }
        .unwrap_or_else(|| {
            self.status
                .canonical_reason()
                .unwrap_or("no error message")
                .to_lowercase()
        });
        let code = self
            .body
            .get("error_code")
            .and_then(Value::as_str)
            .map(str::to_owned);
        (error, code)
    }
}

impl AdminClient {
    /// Resolves the URL, admin key and app id from the arguments, the environment and the
    /// config file (read only when an argument is missing), and builds the client.
    pub fn new(args: &AdminArgs, env: &BTreeMap<String, String>) -> Result<Self, CliError> {
        let settings = Settings::resolve(args, env)?;
        let mut base = settings.url;
        let shown = base.to_string();
        base.path_segments_mut()
            .map_err(|()| CliError::Usage(format!("--url {shown}: cannot be a base URL")))?
            .pop_if_empty()
            .extend([
                "api",
                "admin",
                "v3.0",
                "groups",
                &args.group,
                "apps",
                &settings.app,
            ]);
        let mut authorization = HeaderValue::from_str(&format!("Bearer {}", settings.key))
            .map_err(|_| {
                CliError::NoPermission(
                    "the admin key has characters a header cannot carry".to_owned(),
                )
            })?;
        authorization.set_sensitive(true);
        Ok(Self {
            http: Outbound::new(&settings.outbound).fetcher(Some(CONNECT_TIMEOUT)),
            base,
            authorization,
        })
    }

    /// Sends `method` to the admin API path made of `segments` (each one percent-encoded, so
    /// ids are safe) with an optional JSON body. Any answer, error statuses included, is
    /// `Ok`; only a gateway that cannot be reached or does not answer is an error (exit 69).
    pub async fn request(
        &self,
        method: Method,
        segments: &[&str],
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Answer, CliError> {
        let bytes = match body {
            Some(body) => Some(Bytes::from(
                serde_json::to_vec(body).context("cannot encode the request")?,
            )),
            None => None,
        };
        self.send(method, segments, query, bytes, ANSWER_TIMEOUT)
            .await
    }

    /// Sends a JSON body that is already encoded (a file, as `users import` sends it), with
    /// its own time allowance; otherwise as [`request`](Self::request).
    pub async fn request_bytes(
        &self,
        method: Method,
        segments: &[&str],
        body: Bytes,
        timeout: Duration,
    ) -> Result<Answer, CliError> {
        self.send(method, segments, &[], Some(body), timeout).await
    }

    async fn send(
        &self,
        method: Method,
        segments: &[&str],
        query: &[(&str, String)],
        body: Option<Bytes>,
        timeout: Duration,
    ) -> Result<Answer, CliError> {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .expect("the base URL was checked in new")
            .extend(segments);
        if !query.is_empty() {
            url.query_pairs_mut()
                .extend_pairs(query.iter().map(|(k, v)| (k, v.as_str())));
        }
        let mut request = Request::builder()
            .method(method.clone())
            .uri(url.as_str())
            .header(AUTHORIZATION, self.authorization.clone())
            .header(ACCEPT, "application/json")
            .header(
                USER_AGENT,
                concat!("sessiongate-cli/", env!("CARGO_PKG_VERSION")),
            );
        let bytes = match body {
            Some(bytes) => {
                request = request.header(CONTENT_TYPE, "application/json");
                bytes
            }
            None => Bytes::new(),
        };
        let request = request
            .body(Full::new(bytes))
            .with_context(|| format!("cannot build the request {method} {}", url.path()))?;
        let origin = url.origin().ascii_serialization();
        let (status, bytes) = match self.http.send(request, timeout, MAX_ANSWER_BYTES).await {
            Err(FetchError::Timeout(_)) => {
                return Err(CliError::Unavailable(anyhow!(
                    "the gateway at {origin} did not answer within {}s",
                    timeout.as_secs()
                )));
            }
            Err(err) => {
                return Err(CliError::Unavailable(
                    anyhow!(err).context(format!("cannot reach the gateway at {origin}")),
                ));
            }
            Ok(answer) => (answer.status, answer.body),
        };
        let body = if bytes.iter().all(u8::is_ascii_whitespace) {
            Value::Null
        } else {
            match serde_json::from_slice(&bytes) {
                Ok(value) => value,
                Err(_) if status.is_success() => {
                    return Err(CliError::Other(anyhow!(
                        "{method} {}: {status} answer is not JSON (is {origin} the admin listener?)",
                        url.path()
                    )));
                }
                Err(_) => {
                    Value::String(String::from_utf8_lossy(&bytes).chars().take(300).collect())
                }
            }
        };
        Ok(Answer { status, body })
    }

    /// [`request`](Self::request), then the shared rules of [`Answer::into_result`].
    pub async fn call(
        &self,
        method: Method,
        segments: &[&str],
        body: Option<&Value>,
    ) -> Result<Value, CliError> {
        self.request(method, segments, &[], body)
            .await?
            .into_result()
    }
}

/// Where the gateway is, which key, which app, which extra CAs (`outbound.ca_file`).
#[derive(Debug)]
struct Settings {
    url: Url,
    key: String,
    app: String,
    outbound: OutboundConfig,
}

impl Settings {
    /// Arguments first, then the environment (key only), then the config file. A missing
    /// config file only matters when a value has no other source; an invalid one is a config
    /// error whenever it is read.
    fn resolve(args: &AdminArgs, env: &BTreeMap<String, String>) -> Result<Self, CliError> {
        let env_key = env
            .get(ADMIN_KEY_ENV)
            .map(|key| key.trim())
            .filter(|key| !key.is_empty());
        let key = args.admin_key.as_deref().or(env_key).map(str::to_owned);
        // An https URL may need the config's `outbound.ca_file`.
        let https = args.url.as_ref().is_some_and(|url| url.scheme() == "https");
        let config = if args.url.is_none() || args.app.is_none() || key.is_none() || https {
            load_config(&args.config, env)?
        } else {
            None
        };
        let app = match (&args.app, &config) {
            (Some(app), _) => app.clone(),
            (None, Some(config)) => config.app.id.clone(),
            (None, None) => {
                return Err(CliError::Config(ConfigError {
                    key: "app.id".to_owned(),
                    reason: format!(
                        "unknown: {} does not exist; pass --app ID or --config PATH",
                        args.config.display()
                    ),
                }));
            }
        };
        let url = match (&args.url, &config) {
            (Some(url), _) => url.clone(),
            (None, Some(config)) => admin_url(config.server.admin_listen),
            (None, None) => Url::parse(DEFAULT_URL).expect("the default URL is valid"),
        };
        let from_config = config
            .as_ref()
            .and_then(|c| c.admin.api_key.as_ref())
            .map(|secret| String::from_utf8_lossy(secret.expose()).into_owned());
        let key = key.or(from_config).ok_or_else(|| {
            CliError::NoPermission(format!(
                "no admin key: pass --admin-key, set {ADMIN_KEY_ENV}, or set admin.api_key_file in {}",
                args.config.display()
            ))
        })?;
        let outbound = config.map(|c| c.outbound).unwrap_or_default();
        Ok(Self {
            url,
            key,
            app,
            outbound,
        })
    }
}

/// The config file, or `None` when it does not exist.
fn load_config(path: &Path, env: &BTreeMap<String, String>) -> Result<Option<Config>, CliError> {
    match config::load(path, env) {
        Ok(config) => Ok(Some(config)),
        Err(_) if !path.exists() => Ok(None),
        Err(err) => Err(err.into()),
    }
}

/// The admin listener as a client reaches it: a wildcard bind address means this host.
fn admin_url(listen: SocketAddr) -> Url {
    let mut addr = listen;
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    Url::parse(&format!("http://{addr}")).expect("a socket address makes a valid URL")
}

#[cfg(test)]
mod tests;
