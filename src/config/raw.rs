//! The config file as written: every section and key the product accepts, nothing typed yet.
//!
//! Unknown keys are refused (`deny_unknown_fields`). Numbers and booleans also accept strings,
//! because environment overrides arrive as strings. Defaults and checks live in `config`.

use std::str::FromStr;

use serde::{Deserialize, Deserializer};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    #[serde(default)]
    pub server: RawServer,
    #[serde(default)]
    pub app: RawApp,
    #[serde(default)]
    pub store: RawStore,
    #[serde(default)]
    pub tokens: RawTokens,
    #[serde(default)]
    pub upstream: RawUpstream,
    #[serde(default)]
    pub outbound: RawOutbound,
    #[serde(default)]
    pub admin: RawAdmin,
    #[serde(default)]
    pub identity_headers: RawIdentityHeaders,
    #[serde(default)]
    pub proxy: RawProxy,
    #[serde(default)]
    pub cors: RawCors,
    #[serde(default)]
    pub sessions: RawSessions,
    #[serde(default)]
    pub events: super::events::RawEvents,
    #[serde(default)]
    pub routes: Vec<RawRoute>,
    #[serde(default)]
    pub providers: RawProviders,
    #[serde(default)]
    pub auth: RawAuth,
    #[serde(default)]
    pub login_limits: RawLoginLimits,
    #[serde(default)]
    pub log: RawLog,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServer {
    pub listen: Option<String>,
    pub admin_listen: Option<String>,
    pub tls: Option<RawTls>,
    pub header_read_timeout: Option<String>,
    #[serde(default, deserialize_with = "flex")]
    pub max_header_bytes: Option<usize>,
    #[serde(default, deserialize_with = "flex")]
    pub max_body_bytes: Option<usize>,
    pub shutdown_grace: Option<String>,
    #[serde(default, deserialize_with = "flex")]
    pub trust_forwarded_headers: Option<bool>,
    pub idle_timeout: Option<String>,
    pub body_read_timeout: Option<String>,
    #[serde(default, deserialize_with = "flex")]
    pub max_connections: Option<usize>,
    #[serde(default, deserialize_with = "flex_list")]
    pub trusted_proxies: Option<Vec<String>>,
    pub request_id_header: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTls {
    pub cert_file: Option<String>,
    pub key_file: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawApp {
    pub id: Option<String>,
    pub public_url: Option<String>,
    pub deployment_model: Option<String>,
    pub location: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStore {
    pub url: Option<String>,
    pub fail_open_for: Option<String>,
    pub timeout: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTokens {
    pub access_ttl: Option<String>,
    pub refresh_ttl: Option<String>,
    pub anon_user_ttl: Option<String>,
    pub algorithm: Option<String>,
    pub signing_key_file: Option<String>,
    pub verifying_key_file: Option<String>,
    /// Secret: only from `SESSIONGATE_TOKENS__SIGNING_KEY`, refused in the file.
    pub signing_key: Option<String>,
    #[serde(default, deserialize_with = "flex")]
    pub cache_capacity: Option<u64>,
    #[serde(default, deserialize_with = "flex")]
    pub rotate_refresh_tokens: Option<bool>,
    pub rotation_grace: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawUpstream {
    pub url: Option<String>,
    pub connect_timeout: Option<String>,
    pub timeout: Option<String>,
    pub pool_idle_timeout: Option<String>,
    pub client_cert_file: Option<String>,
    pub client_key_file: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOutbound {
    pub ca_file: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAdmin {
    pub api_key_file: Option<String>,
    /// Secret: only from `SESSIONGATE_ADMIN__API_KEY`, refused in the file.
    pub api_key: Option<String>,
    #[serde(default, deserialize_with = "flex")]
    pub import_max_bytes: Option<usize>,
    /// More admin keys, each named, read from its own file (rotation without downtime).
    #[serde(default)]
    pub keys: Vec<RawNamedAdminKey>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNamedAdminKey {
    pub name: String,
    pub key_file: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawIdentityHeaders {
    pub user_id: Option<String>,
    pub session_id: Option<String>,
    pub provider: Option<String>,
    pub assertion: Option<String>,
    pub assertion_ttl: Option<String>,
    #[serde(default, deserialize_with = "flex")]
    pub assertion_cache: Option<bool>,
    pub assertion_key_rotation: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProxy {
    #[serde(default, deserialize_with = "flex")]
    pub forward_credentials: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRoute {
    pub prefix: Option<String>,
    pub auth: Option<String>,
    #[serde(default, deserialize_with = "flex")]
    pub strip_prefix: Option<bool>,
    pub upstream: Option<String>,
    #[serde(default, deserialize_with = "flex")]
    pub data_api_credentials: Option<bool>,
    pub cors: Option<String>,
    #[serde(default, deserialize_with = "flex")]
    pub websocket_token_protocol: Option<bool>,
    pub token_query_param: Option<String>,
    pub audience: Option<String>,
    #[serde(default, deserialize_with = "flex")]
    pub close_streams_at_expiry: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCors {
    #[serde(default, deserialize_with = "flex_list")]
    pub allowed_origins: Option<Vec<String>>,
    #[serde(default, deserialize_with = "flex")]
    pub allow_credentials: Option<bool>,
    pub max_age: Option<String>,
    #[serde(default, deserialize_with = "flex_list")]
    pub allowed_headers: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSessions {
    #[serde(default, deserialize_with = "flex")]
    pub max_per_user: Option<u32>,
    pub on_limit: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProviders {
    #[serde(default)]
    pub anon_user: RawProvider,
    #[serde(default)]
    pub local_userpass: RawUserpass,
    #[serde(default)]
    pub api_key: RawProvider,
    #[serde(default)]
    pub grant: RawProvider,
    #[serde(default)]
    pub custom_token: RawCustomToken,
    #[serde(default)]
    pub custom_function: RawCustomFunction,
    #[serde(default)]
    pub oauth2_google: RawOidc,
    #[serde(default)]
    pub oauth2_apple: RawOidc,
    /// `[[providers.oidc]]`: any OpenID Connect issuer, by discovery.
    #[serde(default)]
    pub oidc: Vec<RawOidc>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProvider {
    #[serde(default, deserialize_with = "flex")]
    pub enabled: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawUserpass {
    #[serde(default, deserialize_with = "flex")]
    pub enabled: Option<bool>,
    #[serde(default, deserialize_with = "flex")]
    pub auto_confirm: Option<bool>,
    pub confirmation_url: Option<String>,
    pub reset_url: Option<String>,
    pub token_ttl: Option<String>,
    pub webhook_timeout: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCustomToken {
    #[serde(default, deserialize_with = "flex")]
    pub enabled: Option<bool>,
    pub algorithms: Option<Vec<String>>,
    pub key_file: Option<String>,
    pub jwks_file: Option<String>,
    pub jwks_url: Option<String>,
    pub audience: Option<Vec<String>>,
    pub issuer: Option<String>,
    pub leeway: Option<String>,
    #[serde(default)]
    pub metadata: Vec<RawMetadataField>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMetadataField {
    pub claim: Option<String>,
    pub field: Option<String>,
    #[serde(default, deserialize_with = "flex")]
    pub required: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCustomFunction {
    #[serde(default, deserialize_with = "flex")]
    pub enabled: Option<bool>,
    pub url: Option<String>,
    pub timeout: Option<String>,
}

/// An OpenID Connect provider (`oauth2-google`, `oauth2-apple`, `[[providers.oidc]]`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOidc {
    #[serde(default, deserialize_with = "flex")]
    pub enabled: Option<bool>,
    /// `[[providers.oidc]]` only: the provider is `oidc-<name>` on the wire.
    pub name: Option<String>,
    pub issuer: Option<String>,
    #[serde(default, deserialize_with = "flex_list")]
    pub client_ids: Option<Vec<String>>,
    pub client_secret_file: Option<String>,
    /// Secret: only from `SESSIONGATE_PROVIDERS__OAUTH2_GOOGLE__CLIENT_SECRET` (or `…APPLE…`),
    /// refused in the file.
    pub client_secret: Option<String>,
    #[serde(default, deserialize_with = "flex_list")]
    pub redirect_uris: Option<Vec<String>>,
    #[serde(default, deserialize_with = "flex_list")]
    pub scopes: Option<Vec<String>>,
    pub code_redirect_uri: Option<String>,
    pub leeway: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAuth {
    #[serde(default, deserialize_with = "flex")]
    pub password_hash_concurrency: Option<usize>,
    #[serde(default, deserialize_with = "flex")]
    pub password_hash_queue: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLoginLimits {
    #[serde(default, deserialize_with = "flex")]
    pub enabled: Option<bool>,
    pub window: Option<String>,
    #[serde(default, deserialize_with = "flex")]
    pub per_account_and_client: Option<u32>,
    #[serde(default, deserialize_with = "flex")]
    pub per_account: Option<u32>,
    #[serde(default, deserialize_with = "flex")]
    pub per_client: Option<u32>,
    #[serde(default, deserialize_with = "flex")]
    pub sends_per_account: Option<u32>,
    pub block: Option<String>,
    pub max_block: Option<String>,
    pub forget_after: Option<String>,
    pub known_client_ttl: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLog {
    pub format: Option<String>,
    pub level: Option<String>,
}

/// Accepts a native TOML value or a string that parses to one (environment overrides).
pub(super) fn flex<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + FromStr,
    T::Err: std::fmt::Display,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Flex<T> {
        Native(T),
        Text(String),
    }
    match Flex::<T>::deserialize(deserializer)? {
        Flex::Native(value) => Ok(Some(value)),
        Flex::Text(text) => text
            .trim()
            .parse()
            .map(Some)
            .map_err(|err| serde::de::Error::custom(format!("{text:?}: {err}"))),
    }
}

/// A list, or (from the environment) a comma-separated string.
fn flex_list<'de, D>(deserializer: D) -> Result<Option<Vec<String>>, D::Error>
where
    D: Deserializer<'de>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum FlexList {
        Native(Vec<String>),
        Text(String),
    }
    Ok(Some(match FlexList::deserialize(deserializer)? {
        FlexList::Native(items) => items,
        FlexList::Text(text) => text
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(str::to_owned)
            .collect(),
    }))
}
