//! The validated configuration and `load()`: TOML file, then environment overlay, then checks.
//!
//! Does not bind sockets or open the store; `app` does that with a `Config` that is known good.

mod assertion;
mod cors;
mod duration;
mod effective;
mod env;
mod events;
mod login_limits;
mod outbound;
mod providers;
mod raw;
mod secret;
mod sessions;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use http::HeaderName;
use serde::Serialize;
use url::Url;

pub use assertion::{ASSERTION_TTL_MAX, AssertionConfig};
pub use cors::{CorsConfig, RouteCors};
pub use duration::{format as format_duration, parse as parse_duration};
pub use effective::RenderError;
pub use env::PREFIX as ENV_PREFIX;
pub use events::EventsConfig;
pub use login_limits::LoginLimitsConfig;
pub use outbound::{ClientIdentity, OutboundConfig};
pub use providers::{
    APPLE_ISSUER, CustomFunctionConfig, CustomTokenConfig, CustomTokenKey, GOOGLE_ISSUER,
    MetadataField, OidcConfig, ProvidersConfig, UserpassConfig,
};
pub use secret::{Secret, mask_json, mask_urls};
pub use sessions::SessionsConfig;

use raw::RawConfig;

/// App Services bounds for the refresh token lifetime: 30 minutes ..= 180 days.
pub const REFRESH_TTL_MIN: Duration = Duration::from_secs(1_800);
pub const REFRESH_TTL_MAX: Duration = Duration::from_secs(15_552_000);

/// Longest `tokens.rotation_grace`.
const ROTATION_GRACE_MAX: Duration = Duration::from_secs(60);

/// Default config path of `serve` and `config check`.
pub const DEFAULT_PATH: &str = "config/sessiongate.toml";

/// A config key that is missing, malformed or out of range. Displays as one line naming the key.
#[derive(Debug, thiserror::Error)]
#[error("{key}: {reason}")]
pub struct ConfigError {
    pub key: String,
    pub reason: String,
}

impl ConfigError {
    fn new(key: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            reason: reason.into(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Config {
    pub server: ServerConfig,
    pub app: AppConfig,
    pub store: StoreConfig,
    pub tokens: TokensConfig,
    pub upstream: UpstreamConfig,
    /// Trust for every outbound HTTPS connection (upstream, webhooks, JWKS URL).
    pub outbound: OutboundConfig,
    pub admin: AdminConfig,
    pub identity_headers: IdentityHeaders,
    /// `identity_headers.assertion*`: the signed identity assertion for the upstream.
    pub assertion: AssertionConfig,
    pub proxy: ProxyConfig,
    /// Browser apps on other origins (client listener only).
    pub cors: CorsConfig,
    /// Limits on a user's sessions.
    pub sessions: SessionsConfig,
    /// The session lifecycle webhook.
    pub events: EventsConfig,
    pub routes: Vec<RouteConfig>,
    pub providers: ProvidersConfig,
    pub auth: AuthConfig,
    /// Brute-force and credential-stuffing protection (`[login_limits]`).
    pub login_limits: LoginLimitsConfig,
    pub log: LogConfig,
}

#[derive(Debug, Clone, Serialize)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub admin_listen: SocketAddr,
    pub tls: Option<TlsConfig>,
    #[serde(serialize_with = "ser_duration")]
    pub header_read_timeout: Duration,
    /// Total size of a request's header block; larger is answered 431.
    pub max_header_bytes: usize,
    /// Body size limit of the gateway's own endpoints; larger is answered 413.
    pub max_body_bytes: usize,
    #[serde(serialize_with = "ser_duration")]
    pub shutdown_grace: Duration,
    /// Proxies in front of the gateway whose forwarding headers count (see
    /// `proxy::forwarded`); `trust_forwarded_headers = true` means every address.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Kept from a trusted proxy, else generated; returned, forwarded and logged.
    #[serde(serialize_with = "ser_header")]
    pub request_id_header: HeaderName,
    /// A connection with no request in flight for this long is closed.
    #[serde(serialize_with = "ser_duration")]
    pub idle_timeout: Duration,
    /// Own endpoints: the whole body must arrive within this. Proxied bodies: the longest
    /// wait for the next piece.
    #[serde(serialize_with = "ser_duration")]
    pub body_read_timeout: Duration,
    /// Client connections open at once; `None`: derived from the file-descriptor limit.
    pub max_connections: Option<usize>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TlsConfig {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
}

#[derive(Debug, Clone, Serialize)]
pub struct AppConfig {
    pub id: String,
    /// `None`: the location endpoint answers with the scheme and `Host` of each request.
    pub public_url: Option<Url>,
    pub deployment_model: String,
    pub location: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct StoreConfig {
    pub url: String,
    /// How long already-verified tokens are still accepted while the store (and so the
    /// revocation list) cannot be read; past it proxied requests answer 503. Zero: fail closed.
    #[serde(serialize_with = "ser_duration")]
    pub fail_open_for: Duration,
    /// Deadline of every store operation (and of taking a pooled connection), enforced by the
    /// gateway and, on PostgreSQL, as the server's `statement_timeout`; past it the request
    /// answers 503.
    #[serde(serialize_with = "ser_duration")]
    pub timeout: Duration,
}

/// Bounds of `store.timeout`.
const STORE_TIMEOUT_MIN: Duration = Duration::from_millis(100);
const STORE_TIMEOUT_MAX: Duration = Duration::from_secs(300);

/// Which JWT algorithm signs and verifies access tokens. Pinned: a token's own `alg` header
/// never chooses it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum SigningAlgorithm {
    HS256,
    HS384,
    HS512,
    RS256,
    ES256,
    EdDSA,
}

impl SigningAlgorithm {
    pub fn is_symmetric(self) -> bool {
        matches!(self, Self::HS256 | Self::HS384 | Self::HS512)
    }

    fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "HS256" => Self::HS256,
            "HS384" => Self::HS384,
            "HS512" => Self::HS512,
            "RS256" => Self::RS256,
            "ES256" => Self::ES256,
            "EdDSA" => Self::EdDSA,
            _ => return None,
        })
    }
}

/// Where the signing key comes from when it is not generated and kept in the store.
#[derive(Debug, Clone, Serialize)]
pub enum SigningKeySource {
    /// An HMAC secret (file or `SESSIONGATE_TOKENS__SIGNING_KEY`).
    Secret(Secret),
    /// A PEM private key and the matching PEM public key.
    KeyPair {
        private_pem: Secret,
        #[serde(serialize_with = "ser_text")]
        public_pem: Vec<u8>,
    },
}

#[derive(Debug, Clone, Serialize)]
pub struct TokensConfig {
    #[serde(serialize_with = "ser_duration")]
    pub access_ttl: Duration,
    #[serde(serialize_with = "ser_duration")]
    pub refresh_ttl: Duration,
    #[serde(serialize_with = "ser_duration")]
    pub anon_user_ttl: Duration,
    pub algorithm: SigningAlgorithm,
    /// `None`: an HMAC key is generated on first start and kept in the store.
    pub signing_key: Option<SigningKeySource>,
    pub cache_capacity: u64,
    /// Every refresh returns a new refresh token; reuse of a rotated-out one is theft.
    pub rotate_refresh_tokens: bool,
    /// How long a rotated-out refresh token still gets its successor (concurrent refreshes).
    #[serde(serialize_with = "ser_duration")]
    pub rotation_grace: Duration,
}

#[derive(Debug, Clone, Serialize)]
pub struct UpstreamConfig {
    pub url: Url,
    #[serde(serialize_with = "ser_duration")]
    pub connect_timeout: Duration,
    /// Time allowed until the upstream's response headers arrive; past it: 504.
    #[serde(serialize_with = "ser_duration")]
    pub timeout: Duration,
    #[serde(serialize_with = "ser_duration")]
    pub pool_idle_timeout: Duration,
    /// Presented to the upstream over https (mutual TLS); `None`: no client certificate.
    #[serde(flatten)]
    pub client_identity: Option<ClientIdentity>,
}

/// `admin.import_max_bytes`: 64 MiB by default (about 100,000 exported users); 1 KiB ..= 1 GiB.
const IMPORT_MAX_BYTES_DEFAULT: usize = 64 * 1024 * 1024;
const IMPORT_MAX_BYTES_MIN: usize = 1024;
const IMPORT_MAX_BYTES_MAX: usize = 1024 * 1024 * 1024;

#[derive(Debug, Clone, Serialize)]
pub struct AdminConfig {
    /// The key named `default` (`api_key_file` / `SESSIONGATE_ADMIN__API_KEY`). With no key at
    /// all the admin API refuses every call (health and metrics stay open).
    pub api_key: Option<Secret>,
    /// `[[admin.keys]]`: more keys, each with its name (rotation without downtime).
    pub keys: Vec<NamedAdminKey>,
    /// Body limit of `POST users/import` (an App Services export), larger than the own
    /// endpoints' `server.max_body_bytes`.
    pub import_max_bytes: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct NamedAdminKey {
    pub name: String,
    pub key: Secret,
}

/// The name of the admin key given by `admin.api_key_file` / `SESSIONGATE_ADMIN__API_KEY`.
pub const DEFAULT_ADMIN_KEY_NAME: &str = "default";

#[derive(Debug, Clone, Serialize)]
pub struct IdentityHeaders {
    #[serde(serialize_with = "ser_header")]
    pub user_id: HeaderName,
    #[serde(serialize_with = "ser_header")]
    pub session_id: HeaderName,
    #[serde(serialize_with = "ser_header")]
    pub provider: HeaderName,
}

#[derive(Debug, Clone, Serialize)]
pub struct ProxyConfig {
    /// Forward the client's `Authorization` / `Session` header upstream (default: removed).
    pub forward_credentials: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    Required,
    Optional,
    None,
}

#[derive(Debug, Clone, Serialize)]
pub struct RouteConfig {
    pub prefix: String,
    pub auth: AuthMode,
    pub strip_prefix: bool,
    pub upstream: Option<Url>,
    /// Accept the Atlas Data API credential headers (`apiKey`, `email` + `password`,
    /// `jwtTokenString`) instead of a Bearer token on this route.
    pub data_api_credentials: bool,
    /// Who answers CORS for this prefix: the gateway (default) or the upstream.
    pub cors: RouteCors,
    /// Accept the access token as a `sessiongate.bearer.<token>` entry of
    /// `Sec-WebSocket-Protocol` (browsers cannot set `Authorization` on a WebSocket).
    pub websocket_token_protocol: bool,
    /// Accept the access token in this query parameter (removed before forwarding).
    pub token_query_param: Option<String>,
    /// `aud` of this route's identity assertions; `None`: the route's upstream URL.
    pub audience: Option<String>,
    /// Close a WebSocket or streaming response when the access token that opened it expires.
    pub close_streams_at_expiry: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct AuthConfig {
    pub password_hash_concurrency: usize,
    /// Hashes that may wait for a slot; one more is refused at once (503 with `Retry-After`)
    /// instead of queueing behind a login storm.
    pub password_hash_queue: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Serialize)]
pub struct LogConfig {
    pub format: LogFormat,
    pub level: String,
}

/// `[[admin.keys]]`: names unique, not `default`, of letters, digits, `-`, `_`; each key file readable and at
/// least 16 bytes.
fn admin_keys(raw: Vec<raw::RawNamedAdminKey>) -> Result<Vec<NamedAdminKey>, ConfigError> {
    let mut keys: Vec<NamedAdminKey> = Vec::with_capacity(raw.len());
    for (index, entry) in raw.into_iter().enumerate() {
        let at = |field: &str| format!("admin.keys[{index}].{field}");
        let name = entry.name.trim().to_owned();
        let valid = !name.is_empty()
            && name.len() <= 64
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'));
        if !valid {
            return Err(ConfigError::new(
                at("name"),
                "must be 1 to 64 letters, digits, '-' or '_'",
            ));
        }
        if name == DEFAULT_ADMIN_KEY_NAME || keys.iter().any(|k| k.name == name) {
            return Err(ConfigError::new(
                at("name"),
                format!("{name:?} is used twice (\"default\" is admin.api_key_file's)"),
            ));
        }
        let key = Secret::from_file(Path::new(&entry.key_file))
            .map_err(|reason| ConfigError::new(at("key_file"), reason))?;
        if key.expose().len() < 16 {
            return Err(ConfigError::new(at("key_file"), "is shorter than 16 bytes"));
        }
        keys.push(NamedAdminKey { name, key });
    }
    Ok(keys)
}

/// Reads `path`, overlays `SESSIONGATE_*` from `env`, validates. A missing file is an error
/// naming the path; so is every bad key.
pub fn load(path: &Path, env: &BTreeMap<String, String>) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|err| {
        ConfigError::new("config", format!("cannot read {}: {err}", path.display()))
    })?;
    from_toml_str(&text, env, path.parent().unwrap_or(Path::new(".")))
}

/// Like `load` for config text already in memory. Relative file paths in the config are
/// resolved against the working directory, as a shell user would expect.
pub fn from_toml_str(
    text: &str,
    env: &BTreeMap<String, String>,
    _config_dir: &Path,
) -> Result<Config, ConfigError> {
    let mut table: toml::Table = toml::from_str(text).map_err(|err| toml_error(text, &err))?;
    refuse_inline_secrets(&table)?;
    env::overlay(&mut table, env).map_err(|msg| {
        let (key, reason) = msg
            .split_once(": ")
            .unwrap_or(("environment", msg.as_str()));
        ConfigError::new(key, reason)
    })?;
    let raw: RawConfig =
        serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|err| {
            ConfigError::new(err.path().to_string(), first_line(&err.inner().to_string()))
        })?;
    validate(raw)
}

/// A TOML syntax error with where it is: `invalid TOML at line 3, column 7: …`.
fn toml_error(text: &str, err: &toml::de::Error) -> ConfigError {
    let message = err
        .message()
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join(": ");
    let message = if message.is_empty() {
        "invalid TOML".to_owned()
    } else {
        message
    };
    let Some(span) = err.span() else {
        return ConfigError::new("config", format!("invalid TOML: {message}"));
    };
    let before = text.get(..span.start).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    ConfigError::new(
        "config",
        format!("invalid TOML at line {line}, column {column}: {message}"),
    )
}

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or_default().to_owned()
}

/// Secrets may come from a file or the environment, never from the TOML file itself.
fn refuse_inline_secrets(table: &toml::Table) -> Result<(), ConfigError> {
    for (section, key, alternative) in [
        (
            "admin",
            "api_key",
            "admin.api_key_file or SESSIONGATE_ADMIN__API_KEY",
        ),
        (
            "tokens",
            "signing_key",
            "tokens.signing_key_file or SESSIONGATE_TOKENS__SIGNING_KEY",
        ),
        (
            "events",
            "secret",
            "events.secret_file or SESSIONGATE_EVENTS__SECRET",
        ),
    ] {
        let present = table
            .get(section)
            .and_then(toml::Value::as_table)
            .is_some_and(|t| t.contains_key(key));
        if present {
            return Err(ConfigError::new(
                format!("{section}.{key}"),
                format!("secrets are not read from the config file; use {alternative}"),
            ));
        }
    }
    let providers = table.get("providers").and_then(toml::Value::as_table);
    for (section, env) in [
        ("oauth2_google", "OAUTH2_GOOGLE"),
        ("oauth2_apple", "OAUTH2_APPLE"),
    ] {
        let present = providers
            .and_then(|p| p.get(section))
            .and_then(toml::Value::as_table)
            .is_some_and(|t| t.contains_key("client_secret"));
        if present {
            return Err(ConfigError::new(
                format!("providers.{section}.client_secret"),
                format!(
                    "secrets are not read from the config file; use \
                     providers.{section}.client_secret_file or \
                     SESSIONGATE_PROVIDERS__{env}__CLIENT_SECRET"
                ),
            ));
        }
    }
    let generic = providers
        .and_then(|p| p.get("oidc"))
        .and_then(toml::Value::as_array);
    for (index, entry) in generic.into_iter().flatten().enumerate() {
        if entry
            .as_table()
            .is_some_and(|t| t.contains_key("client_secret"))
        {
            return Err(ConfigError::new(
                format!("providers.oidc[{index}].client_secret"),
                "secrets are not read from the config file; use client_secret_file",
            ));
        }
    }
    Ok(())
}

fn validate(raw: RawConfig) -> Result<Config, ConfigError> {
    let server = validate_server(raw.server)?;
    let app = validate_app(raw.app)?;
    let store = StoreConfig {
        url: raw
            .store
            .url
            .unwrap_or_else(|| "sqlite://data/sessiongate.db".to_owned()),
        fail_open_for: duration("store.fail_open_for", raw.store.fail_open_for, "30s")?,
        timeout: duration("store.timeout", raw.store.timeout, "5s")?,
    };
    if !(store.url.starts_with("sqlite:") || store.url.starts_with("postgres")) {
        return Err(ConfigError::new(
            "store.url",
            format!(
                "{:?}: expected sqlite://PATH or postgres://…",
                mask_urls(&store.url)
            ),
        ));
    }
    if !(STORE_TIMEOUT_MIN..=STORE_TIMEOUT_MAX).contains(&store.timeout) {
        return Err(ConfigError::new(
            "store.timeout",
            format!(
                "{} is outside {}..={}",
                format_duration(store.timeout),
                format_duration(STORE_TIMEOUT_MIN),
                format_duration(STORE_TIMEOUT_MAX)
            ),
        ));
    }
    let tokens = validate_tokens(raw.tokens)?;
    let upstream = validate_upstream(raw.upstream)?;
    let outbound = outbound::validate(raw.outbound.ca_file)?;
    let admin = AdminConfig {
        api_key: match (raw.admin.api_key, raw.admin.api_key_file) {
            (Some(key), _) if !key.trim().is_empty() => Some(Secret::new(key.trim())),
            (_, Some(file)) => Some(
                Secret::from_file(Path::new(&file))
                    .map_err(|reason| ConfigError::new("admin.api_key_file", reason))?,
            ),
            _ => None,
        },
        keys: admin_keys(raw.admin.keys)?,
        import_max_bytes: raw
            .admin
            .import_max_bytes
            .unwrap_or(IMPORT_MAX_BYTES_DEFAULT),
    };
    if !(IMPORT_MAX_BYTES_MIN..=IMPORT_MAX_BYTES_MAX).contains(&admin.import_max_bytes) {
        return Err(ConfigError::new(
            "admin.import_max_bytes",
            format!("must be between {IMPORT_MAX_BYTES_MIN} and {IMPORT_MAX_BYTES_MAX}"),
        ));
    }
    if let Some(key) = &admin.api_key {
        if key.expose().len() < 16 {
            return Err(ConfigError::new(
                "admin.api_key",
                "is shorter than 16 bytes",
            ));
        }
    }
    let assertion = assertion::validate(&raw.identity_headers)?;
    let identity_headers = IdentityHeaders {
        user_id: header(
            "identity_headers.user_id",
            raw.identity_headers.user_id,
            "x-user-id",
        )?,
        session_id: header(
            "identity_headers.session_id",
            raw.identity_headers.session_id,
            "x-session-id",
        )?,
        provider: header(
            "identity_headers.provider",
            raw.identity_headers.provider,
            "x-user-provider",
        )?,
    };
    let routes = raw
        .routes
        .into_iter()
        .enumerate()
        .map(|(index, route)| validate_route(index, route))
        .collect::<Result<Vec<_>, _>>()?;
    let cors = cors::validate(raw.cors)?;
    let sessions = sessions::validate(raw.sessions)?;
    let events = events::validate(raw.events)?;
    let providers = providers::validate(raw.providers)?;
    let cpus = std::thread::available_parallelism().map_or(2, usize::from);
    let concurrency = raw.auth.password_hash_concurrency.unwrap_or(cpus);
    let auth = AuthConfig {
        password_hash_concurrency: concurrency,
        password_hash_queue: raw
            .auth
            .password_hash_queue
            .unwrap_or(concurrency.saturating_mul(4)),
    };
    if auth.password_hash_concurrency == 0 {
        return Err(ConfigError::new(
            "auth.password_hash_concurrency",
            "must be at least 1",
        ));
    }
    let login_limits = login_limits::validate(raw.login_limits)?;
    let log = LogConfig {
        format: match raw.log.format.as_deref() {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => {
                return Err(ConfigError::new(
                    "log.format",
                    format!("{other:?}: expected \"text\" or \"json\""),
                ));
            }
        },
        level: log_level(raw.log.level)?,
    };
    Ok(Config {
        server,
        app,
        store,
        tokens,
        upstream,
        outbound,
        admin,
        identity_headers,
        assertion,
        proxy: ProxyConfig {
            forward_credentials: raw.proxy.forward_credentials.unwrap_or(false),
        },
        cors,
        sessions,
        events,
        routes,
        providers,
        auth,
        login_limits,
        log,
    })
}

fn validate_server(raw: raw::RawServer) -> Result<ServerConfig, ConfigError> {
    let tls = match raw.tls {
        None => None,
        Some(tls) => Some(TlsConfig {
            cert_file: tls.cert_file.map(PathBuf::from).ok_or_else(|| {
                ConfigError::new("server.tls.cert_file", "is required with [server.tls]")
            })?,
            key_file: tls.key_file.map(PathBuf::from).ok_or_else(|| {
                ConfigError::new("server.tls.key_file", "is required with [server.tls]")
            })?,
        }),
    };
    let max_header_bytes = raw.max_header_bytes.unwrap_or(16 * 1024);
    if !(1024..=1024 * 1024).contains(&max_header_bytes) {
        return Err(ConfigError::new(
            "server.max_header_bytes",
            "must be between 1024 and 1048576",
        ));
    }
    let max_body_bytes = raw.max_body_bytes.unwrap_or(64 * 1024);
    if !(1024..=16 * 1024 * 1024).contains(&max_body_bytes) {
        return Err(ConfigError::new(
            "server.max_body_bytes",
            "must be between 1024 and 16777216",
        ));
    }
    Ok(ServerConfig {
        listen: addr("server.listen", raw.listen, "127.0.0.1:8080")?,
        admin_listen: addr("server.admin_listen", raw.admin_listen, "127.0.0.1:8081")?,
        tls,
        header_read_timeout: positive(
            duration("server.header_read_timeout", raw.header_read_timeout, "10s")?,
            "server.header_read_timeout",
        )?,
        max_header_bytes,
        max_body_bytes,
        shutdown_grace: duration("server.shutdown_grace", raw.shutdown_grace, "30s")?,
        trusted_proxies: trusted_proxies(raw.trusted_proxies, raw.trust_forwarded_headers)?,
        request_id_header: header(
            "server.request_id_header",
            raw.request_id_header,
            "x-request-id",
        )?,
        idle_timeout: positive(
            duration("server.idle_timeout", raw.idle_timeout, "60s")?,
            "server.idle_timeout",
        )?,
        body_read_timeout: positive(
            duration("server.body_read_timeout", raw.body_read_timeout, "30s")?,
            "server.body_read_timeout",
        )?,
        max_connections: match raw.max_connections {
            Some(0) => {
                return Err(ConfigError::new(
                    "server.max_connections",
                    "must be at least 1 (leave it out to derive it from the file limit)",
                ));
            }
            other => other,
        },
    })
}

/// `server.trusted_proxies` as networks (a bare address is its own /32 or /128);
/// `server.trust_forwarded_headers = true`, the older switch, trusts every address.
fn trusted_proxies(
    raw: Option<Vec<String>>,
    trust_all: Option<bool>,
) -> Result<Vec<ipnet::IpNet>, ConfigError> {
    let key = "server.trusted_proxies";
    let mut networks = Vec::new();
    for text in raw.unwrap_or_default() {
        let network = text
            .parse::<ipnet::IpNet>()
            .or_else(|_| text.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
            .map_err(|_| {
                ConfigError::new(key, format!("{text:?} is not a CIDR such as 10.0.0.0/8"))
            })?;
        networks.push(network.trunc());
    }
    if trust_all == Some(true) {
        if !networks.is_empty() {
            return Err(ConfigError::new(
                "server.trust_forwarded_headers",
                "set either this or server.trusted_proxies, not both",
            ));
        }
        networks = ["0.0.0.0/0", "::/0"]
            .iter()
            .map(|net| net.parse().expect("constant networks parse"))
            .collect();
    }
    Ok(networks)
}

/// Refuses a zero duration where zero would mean "never" or "at once" by accident.
fn positive(value: Duration, key: &str) -> Result<Duration, ConfigError> {
    if value.is_zero() {
        return Err(ConfigError::new(key, "must be greater than 0s"));
    }
    Ok(value)
}

fn validate_app(raw: raw::RawApp) -> Result<AppConfig, ConfigError> {
    let id = raw
        .id
        .ok_or_else(|| ConfigError::new("app.id", "is required (the <App ID> clients use)"))?;
    let id_ok = !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
    if !id_ok {
        return Err(ConfigError::new(
            "app.id",
            format!("{id:?}: use letters, digits, '-', '_' or '.'"),
        ));
    }
    let public_url = raw
        .public_url
        .map(|text| url("app.public_url", &text))
        .transpose()?;
    Ok(AppConfig {
        id,
        public_url,
        deployment_model: raw.deployment_model.unwrap_or_else(|| "GLOBAL".to_owned()),
        location: raw.location.unwrap_or_else(|| "US-VA".to_owned()),
    })
}

fn validate_tokens(raw: raw::RawTokens) -> Result<TokensConfig, ConfigError> {
    let access_ttl = duration("tokens.access_ttl", raw.access_ttl, "30m")?;
    if access_ttl < Duration::from_secs(1) || access_ttl > Duration::from_secs(86_400) {
        return Err(ConfigError::new(
            "tokens.access_ttl",
            "must be between 1s and 24h",
        ));
    }
    let refresh_ttl = duration("tokens.refresh_ttl", raw.refresh_ttl, "60d")?;
    if refresh_ttl < REFRESH_TTL_MIN {
        return Err(ConfigError::new(
            "tokens.refresh_ttl",
            format!("{} is below the minimum 30m", format_duration(refresh_ttl)),
        ));
    }
    if refresh_ttl > REFRESH_TTL_MAX {
        return Err(ConfigError::new(
            "tokens.refresh_ttl",
            format!("{} is above the maximum 180d", format_duration(refresh_ttl)),
        ));
    }
    let anon_user_ttl = duration("tokens.anon_user_ttl", raw.anon_user_ttl, "90d")?;
    let algorithm_text = raw.algorithm.unwrap_or_else(|| "HS256".to_owned());
    let algorithm = SigningAlgorithm::parse(&algorithm_text).ok_or_else(|| {
        ConfigError::new(
            "tokens.algorithm",
            format!("{algorithm_text:?}: expected HS256, HS384, HS512, RS256, ES256 or EdDSA"),
        )
    })?;
    let signing_key = signing_key(
        algorithm,
        raw.signing_key,
        raw.signing_key_file,
        raw.verifying_key_file,
    )?;
    let cache_capacity = raw.cache_capacity.unwrap_or(100_000);
    if cache_capacity == 0 {
        return Err(ConfigError::new(
            "tokens.cache_capacity",
            "must be at least 1",
        ));
    }
    let rotation_grace = duration("tokens.rotation_grace", raw.rotation_grace, "5s")?;
    if rotation_grace > ROTATION_GRACE_MAX {
        return Err(ConfigError::new(
            "tokens.rotation_grace",
            "must be at most 1m (a rotated-out token is a stolen one after it)",
        ));
    }
    Ok(TokensConfig {
        access_ttl,
        refresh_ttl,
        anon_user_ttl,
        algorithm,
        signing_key,
        cache_capacity,
        rotate_refresh_tokens: raw.rotate_refresh_tokens.unwrap_or(false),
        rotation_grace,
    })
}

fn signing_key(
    algorithm: SigningAlgorithm,
    env_secret: Option<String>,
    file: Option<String>,
    verifying_file: Option<String>,
) -> Result<Option<SigningKeySource>, ConfigError> {
    let (private, source) = match (env_secret, file) {
        (Some(secret), _) if !secret.trim().is_empty() => {
            (Some(Secret::new(secret.trim())), "tokens.signing_key")
        }
        (_, Some(path)) => (
            Some(
                Secret::from_file(Path::new(&path))
                    .map_err(|reason| ConfigError::new("tokens.signing_key_file", reason))?,
            ),
            "tokens.signing_key_file",
        ),
        _ => (None, "tokens.signing_key_file"),
    };
    if algorithm.is_symmetric() {
        if let Some(secret) = &private {
            secret::check_hmac_secret(secret.expose()).map_err(|reason| {
                ConfigError::new(
                    source,
                    format!("not usable as a {algorithm:?} secret: {reason}"),
                )
            })?;
        }
        return Ok(private.map(SigningKeySource::Secret));
    }
    let private_pem = private.ok_or_else(|| {
        ConfigError::new(
            "tokens.signing_key_file",
            format!("is required with algorithm {algorithm:?} (a PEM private key)"),
        )
    })?;
    let path = verifying_file.ok_or_else(|| {
        ConfigError::new(
            "tokens.verifying_key_file",
            format!("is required with algorithm {algorithm:?} (a PEM public key)"),
        )
    })?;
    let public_pem = std::fs::read(&path).map_err(|err| {
        ConfigError::new(
            "tokens.verifying_key_file",
            format!("cannot read {path}: {err}"),
        )
    })?;
    Ok(Some(SigningKeySource::KeyPair {
        private_pem,
        public_pem,
    }))
}

fn validate_upstream(raw: raw::RawUpstream) -> Result<UpstreamConfig, ConfigError> {
    let url_text = raw
        .url
        .unwrap_or_else(|| "http://127.0.0.1:9000".to_owned());
    Ok(UpstreamConfig {
        url: upstream_url("upstream.url", &url_text)?,
        connect_timeout: duration("upstream.connect_timeout", raw.connect_timeout, "5s")?,
        timeout: duration("upstream.timeout", raw.timeout, "30s")?,
        pool_idle_timeout: duration("upstream.pool_idle_timeout", raw.pool_idle_timeout, "4s")?,
        client_identity: outbound::client_identity(raw.client_cert_file, raw.client_key_file)?,
    })
}

fn validate_route(index: usize, raw: raw::RawRoute) -> Result<RouteConfig, ConfigError> {
    let key = |field: &str| format!("routes[{index}].{field}");
    let prefix = raw
        .prefix
        .ok_or_else(|| ConfigError::new(key("prefix"), "is required"))?;
    if !prefix.starts_with('/')
        || prefix.contains("//")
        || prefix.split('/').any(|s| s == "." || s == "..")
    {
        return Err(ConfigError::new(
            key("prefix"),
            format!("{prefix:?}: must be an absolute, normalized path such as /public"),
        ));
    }
    let prefix = if prefix.len() > 1 {
        prefix.trim_end_matches('/').to_owned()
    } else {
        prefix
    };
    // Matching also reads paths leniently (case, `;params`, trailing dots and spaces; see
    // proxy::routes): a prefix must be written the one way both readings agree on.
    let lenient_safe = !prefix
        .bytes()
        .any(|b| matches!(b, b';' | b'%' | b' ' | b'\t') || b.is_ascii_uppercase())
        && !prefix.split('/').any(|s| s.ends_with('.'));
    if !lenient_safe {
        return Err(ConfigError::new(
            key("prefix"),
            format!(
                "{prefix:?}: write prefixes in lower case, without ';', '%'-escapes, spaces or \
                 segments ending in '.' (paths are matched case-insensitively and without \
                 ;parameters too)"
            ),
        ));
    }
    let auth = match raw.auth.as_deref() {
        None | Some("required") => AuthMode::Required,
        Some("optional") => AuthMode::Optional,
        Some("none") => AuthMode::None,
        Some(other) => {
            return Err(ConfigError::new(
                key("auth"),
                format!("{other:?}: expected \"required\", \"optional\" or \"none\""),
            ));
        }
    };
    let upstream = raw
        .upstream
        .map(|text| upstream_url(&key("upstream"), &text))
        .transpose()?;
    Ok(RouteConfig {
        prefix,
        auth,
        strip_prefix: raw.strip_prefix.unwrap_or(false),
        upstream,
        data_api_credentials: raw.data_api_credentials.unwrap_or(false),
        cors: cors::route_cors(&key("cors"), raw.cors.as_deref())?,
        websocket_token_protocol: raw.websocket_token_protocol.unwrap_or(false),
        token_query_param: cors::query_param(&key("token_query_param"), raw.token_query_param)?,
        audience: assertion::audience(&key("audience"), raw.audience)?,
        close_streams_at_expiry: raw.close_streams_at_expiry.unwrap_or(true),
    })
}

/// `log.level` is a tracing filter (`info`, `sessiongate=debug,info`); a typo is refused here
/// rather than silently replaced by `info` at start-up.
fn log_level(value: Option<String>) -> Result<String, ConfigError> {
    let level = value.unwrap_or_else(|| "info".to_owned());
    tracing_subscriber::EnvFilter::builder()
        .parse(&level)
        .map_err(|err| {
            ConfigError::new(
                "log.level",
                format!("{level:?} is not a log filter ({err}); expected e.g. info or sessiongate=debug,warn"),
            )
        })?;
    Ok(level)
}

fn addr(key: &str, value: Option<String>, default: &str) -> Result<SocketAddr, ConfigError> {
    let text = value.unwrap_or_else(|| default.to_owned());
    text.parse().map_err(|_| {
        ConfigError::new(
            key,
            format!("{text:?} is not an address such as 127.0.0.1:8080"),
        )
    })
}

fn duration(key: &str, value: Option<String>, default: &str) -> Result<Duration, ConfigError> {
    parse_duration(value.as_deref().unwrap_or(default))
        .map_err(|reason| ConfigError::new(key, reason))
}

fn url(key: &str, text: &str) -> Result<Url, ConfigError> {
    let shown = mask_urls(text);
    let parsed = Url::parse(text)
        .map_err(|err| ConfigError::new(key, format!("{shown:?} is not a URL: {err}")))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
        return Err(ConfigError::new(
            key,
            format!("{shown:?}: expected an http:// or https:// URL"),
        ));
    }
    Ok(parsed)
}

fn upstream_url(key: &str, text: &str) -> Result<Url, ConfigError> {
    let parsed = url(key, text)?;
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(ConfigError::new(
            key,
            format!(
                "{:?}: an upstream URL takes no query or fragment",
                mask_urls(text)
            ),
        ));
    }
    Ok(parsed)
}

fn header(key: &str, value: Option<String>, default: &str) -> Result<HeaderName, ConfigError> {
    let text = value.unwrap_or_else(|| default.to_owned());
    HeaderName::from_bytes(text.as_bytes())
        .map_err(|_| ConfigError::new(key, format!("{text:?} is not a valid header name")))
}

fn ser_duration<S: serde::Serializer>(value: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&format_duration(*value))
}

/// Public key material (not a secret) as text rather than an array of bytes.
fn ser_text<S: serde::Serializer>(value: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&String::from_utf8_lossy(value))
}

fn ser_header<S: serde::Serializer>(value: &HeaderName, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(value.as_str())
}

#[cfg(test)]
mod tests;
