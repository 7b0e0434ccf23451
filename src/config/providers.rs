//! Login provider settings: which providers are enabled and how the external ones are wired
//! (custom-token keys and claims, the custom-function webhook, local-userpass webhooks).
//!
//! Does not fetch JWKS or call webhooks; the providers in `auth` do, with these settings.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;
use url::Url;

use super::raw::{RawCustomFunction, RawCustomToken, RawOidc, RawProviders, RawUserpass};
use super::{ConfigError, Secret, duration, ser_duration};

#[derive(Debug, Clone, Serialize)]
pub struct ProvidersConfig {
    pub anon_user: bool,
    pub local_userpass: bool,
    pub local_userpass_auto_confirm: bool,
    pub api_key: bool,
    /// Exchange of one-time grants minted by the admin API.
    pub grant: bool,
    pub userpass: UserpassConfig,
    /// `None`: the custom-token provider is disabled.
    pub custom_token: Option<CustomTokenConfig>,
    /// `None`: the custom-function provider is disabled.
    pub custom_function: Option<CustomFunctionConfig>,
    /// The enabled OpenID Connect providers: `oauth2-google`, `oauth2-apple` and every
    /// `[[providers.oidc]]` (`oidc-<name>`), in that order.
    pub oidc: Vec<OidcConfig>,
}

/// An OpenID Connect / OAuth 2 login provider: one issuer, found by discovery.
#[derive(Debug, Clone, Serialize)]
pub struct OidcConfig {
    /// The provider's name in `/auth/providers/<name>/login` and on its identities.
    pub name: String,
    /// The issuer exactly as its tokens' `iss` (and its discovery document) state it.
    pub issuer: String,
    /// `<issuer>/.well-known/openid-configuration`.
    pub discovery_url: Url,
    /// Accepted `aud` values; the first is the client id of code exchanges and redirects.
    pub client_ids: Vec<String>,
    /// Sent to the token endpoint (`client_secret_post`); `None`: a public client (PKCE only).
    pub client_secret: Option<Secret>,
    /// Where the redirect flow may send users back to (exact match); empty: no redirect flow.
    pub redirect_uris: Vec<Url>,
    /// Scopes asked for in the redirect flow.
    pub scopes: Vec<String>,
    /// `redirect_uri` sent with a code the app obtained itself (`{"authCode": …}`), e.g.
    /// `postmessage` for Google's JavaScript library; `None`: not sent.
    pub code_redirect_uri: Option<String>,
    /// Clock skew allowed on `exp`, `nbf` and `iat`.
    #[serde(serialize_with = "ser_duration")]
    pub leeway: Duration,
}

/// Google's and Apple's issuers (the default `issuer` of their providers).
pub const GOOGLE_ISSUER: &str = "https://accounts.google.com";
pub const APPLE_ISSUER: &str = "https://appleid.apple.com";

/// local-userpass confirmation and reset: App Services' "send an email" / "run a function"
/// become webhooks that receive the token and decide what to do with it.
#[derive(Debug, Clone, Serialize)]
pub struct UserpassConfig {
    /// Receives `{email, token, tokenId}` when a new account needs confirming (without
    /// auto-confirm) and on `confirm/send`; `confirm/call` asks it to decide.
    pub confirmation_url: Option<Url>,
    /// Receives `{email, token, tokenId}` on `reset/send`; on `reset/call` it receives
    /// `{email, token, tokenId, arguments}` and answers `{"status": "success"|"pending"|"fail"}`.
    pub reset_url: Option<Url>,
    /// Lifetime of confirmation and reset tokens.
    #[serde(serialize_with = "ser_duration")]
    pub token_ttl: Duration,
    #[serde(serialize_with = "ser_duration")]
    pub webhook_timeout: Duration,
}

/// Where the keys that verify external JWTs come from.
#[derive(Debug, Clone, Serialize)]
pub enum CustomTokenKey {
    /// HMAC secret (HS256/384/512), read from `key_file`.
    Secret(Secret),
    /// PEM public key (RS256, ES256, EdDSA, …), read from `key_file`.
    Pem(PathBuf),
    /// A JWKS document on disk, read at start.
    JwksFile(PathBuf),
    /// A JWKS URL: fetched at start, cached, re-fetched (rate-limited) on an unknown `kid`.
    JwksUrl(Url),
}

/// One claim copied into the user's data (App Services' "metadata fields").
#[derive(Debug, Clone, Serialize)]
pub struct MetadataField {
    /// Dotted path in the token's claims, e.g. `email` or `user_data.name`.
    pub claim: String,
    /// Name in the user's `data`.
    pub field: String,
    /// Login fails when a required claim is missing.
    pub required: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct CustomTokenConfig {
    /// Accepted `alg` values; a token with any other is refused before a key is used.
    pub algorithms: Vec<String>,
    pub key: CustomTokenKey,
    /// The token's `aud` must contain one of these.
    pub audience: Vec<String>,
    /// When set, the token's `iss` must equal it.
    pub issuer: Option<String>,
    /// Clock skew allowed on `exp` and `nbf`.
    #[serde(serialize_with = "ser_duration")]
    pub leeway: Duration,
    pub metadata: Vec<MetadataField>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CustomFunctionConfig {
    /// Receives the login body as JSON; answers `{"id": …, "name"?, "email"?, "data"?}` (200)
    /// or an error (`{"error": …}`, non-2xx) whose message reaches the client.
    pub url: Url,
    #[serde(serialize_with = "ser_duration")]
    pub timeout: Duration,
}

const ALGORITHMS: &[&str] = &[
    "HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256",
    "ES384", "EdDSA",
];

pub fn validate(raw: RawProviders) -> Result<ProvidersConfig, ConfigError> {
    Ok(ProvidersConfig {
        anon_user: raw.anon_user.enabled.unwrap_or(true),
        local_userpass: raw.local_userpass.enabled.unwrap_or(true),
        local_userpass_auto_confirm: raw.local_userpass.auto_confirm.unwrap_or(true),
        api_key: raw.api_key.enabled.unwrap_or(true),
        grant: raw.grant.enabled.unwrap_or(true),
        userpass: validate_userpass(raw.local_userpass)?,
        custom_token: validate_custom_token(raw.custom_token)?,
        custom_function: validate_custom_function(raw.custom_function)?,
        oidc: validate_oidc_providers(raw.oauth2_google, raw.oauth2_apple, raw.oidc)?,
    })
}

fn validate_oidc_providers(
    google: RawOidc,
    apple: RawOidc,
    generic: Vec<RawOidc>,
) -> Result<Vec<OidcConfig>, ConfigError> {
    let mut providers = Vec::new();
    for (section, name, issuer, raw) in [
        (
            "providers.oauth2_google",
            "oauth2-google",
            GOOGLE_ISSUER,
            google,
        ),
        (
            "providers.oauth2_apple",
            "oauth2-apple",
            APPLE_ISSUER,
            apple,
        ),
    ] {
        if raw.name.is_some() {
            return Err(ConfigError::new(
                format!("{section}.name"),
                "is fixed for this provider (name is for [[providers.oidc]])",
            ));
        }
        if raw.enabled.unwrap_or(false) {
            let default_scopes: &[&str] = if name == "oauth2-apple" {
                &["openid"]
            } else {
                &["openid", "email", "profile"]
            };
            providers.push(validate_oidc(
                section,
                name.to_owned(),
                Some(issuer),
                default_scopes,
                raw,
            )?);
        }
    }
    for (index, raw) in generic.into_iter().enumerate() {
        let section = format!("providers.oidc[{index}]");
        if !raw.enabled.unwrap_or(true) {
            continue;
        }
        let name = raw.name.clone().unwrap_or_default();
        let name_ok = !name.is_empty()
            && name.len() <= 32
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !name_ok {
            return Err(ConfigError::new(
                format!("{section}.name"),
                format!("{name:?}: use 1 to 32 lowercase letters, digits or '-'"),
            ));
        }
        let wire = format!("oidc-{name}");
        if providers.iter().any(|p: &OidcConfig| p.name == wire) {
            return Err(ConfigError::new(
                format!("{section}.name"),
                format!("{name:?} is used by another [[providers.oidc]]"),
            ));
        }
        providers.push(validate_oidc(
            &section,
            wire,
            None,
            &["openid", "email", "profile"],
            raw,
        )?);
    }
    Ok(providers)
}

fn validate_oidc(
    section: &str,
    name: String,
    default_issuer: Option<&str>,
    default_scopes: &[&str],
    raw: RawOidc,
) -> Result<OidcConfig, ConfigError> {
    let key = |k: &str| format!("{section}.{k}");
    let issuer = raw
        .issuer
        .filter(|i| !i.is_empty())
        .or_else(|| default_issuer.map(str::to_owned))
        .ok_or_else(|| ConfigError::new(key("issuer"), "is required"))?;
    let parsed = http_url(&key("issuer"), &issuer)?;
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(ConfigError::new(
            key("issuer"),
            "an issuer URL takes no query or fragment",
        ));
    }
    let discovery_url = http_url(
        &key("issuer"),
        &format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        ),
    )?;
    let client_ids = raw.client_ids.unwrap_or_default();
    if client_ids.is_empty() || client_ids.iter().any(|c| c.trim().is_empty()) {
        return Err(ConfigError::new(
            key("client_ids"),
            "is required (the client ids the issuer puts in aud for this app)",
        ));
    }
    let client_secret = match (raw.client_secret, raw.client_secret_file) {
        (Some(secret), _) if !secret.trim().is_empty() => Some(Secret::new(secret.trim())),
        (_, Some(file)) => Some(
            Secret::from_file(Path::new(&file))
                .map_err(|reason| ConfigError::new(key("client_secret_file"), reason))?,
        ),
        _ => None,
    };
    let mut redirect_uris = Vec::new();
    for text in raw.redirect_uris.unwrap_or_default() {
        let url = http_url(&key("redirect_uris"), &text)?;
        if url.fragment().is_some() {
            return Err(ConfigError::new(
                key("redirect_uris"),
                format!("{text:?}: the gateway adds the fragment; list the URL without one"),
            ));
        }
        redirect_uris.push(url);
    }
    let scopes = raw
        .scopes
        .unwrap_or_else(|| default_scopes.iter().map(|s| (*s).to_owned()).collect());
    if !scopes.iter().any(|s| s == "openid")
        || scopes
            .iter()
            .any(|s| s.is_empty() || s.bytes().any(|b| b <= b' ' || b == b'"' || b == b'\\'))
    {
        return Err(ConfigError::new(
            key("scopes"),
            "must include \"openid\" and hold no spaces or quotes",
        ));
    }
    Ok(OidcConfig {
        name,
        issuer,
        discovery_url,
        client_ids,
        client_secret,
        redirect_uris,
        scopes,
        code_redirect_uri: raw.code_redirect_uri.filter(|u| !u.is_empty()),
        leeway: duration(&key("leeway"), raw.leeway, "60s")?,
    })
}

fn validate_userpass(raw: RawUserpass) -> Result<UserpassConfig, ConfigError> {
    let key = "providers.local_userpass";
    let config = UserpassConfig {
        confirmation_url: raw
            .confirmation_url
            .map(|u| http_url(&format!("{key}.confirmation_url"), &u))
            .transpose()?,
        reset_url: raw
            .reset_url
            .map(|u| http_url(&format!("{key}.reset_url"), &u))
            .transpose()?,
        token_ttl: duration(&format!("{key}.token_ttl"), raw.token_ttl, "30m")?,
        webhook_timeout: duration(
            &format!("{key}.webhook_timeout"),
            raw.webhook_timeout,
            "10s",
        )?,
    };
    if raw.auto_confirm == Some(false) && config.confirmation_url.is_none() {
        return Err(ConfigError::new(
            format!("{key}.confirmation_url"),
            "is required when auto_confirm = false (nobody could confirm an account)",
        ));
    }
    Ok(config)
}

fn validate_custom_token(raw: RawCustomToken) -> Result<Option<CustomTokenConfig>, ConfigError> {
    let key = "providers.custom_token";
    if !raw.enabled.unwrap_or(false) {
        return Ok(None);
    }
    let algorithms = raw.algorithms.unwrap_or_else(|| vec!["RS256".to_owned()]);
    if algorithms.is_empty() {
        return Err(ConfigError::new(
            format!("{key}.algorithms"),
            "must name at least one algorithm",
        ));
    }
    if let Some(bad) = algorithms
        .iter()
        .find(|a| !ALGORITHMS.contains(&a.as_str()))
    {
        return Err(ConfigError::new(
            format!("{key}.algorithms"),
            format!("{bad:?}: expected one of {}", ALGORITHMS.join(", ")),
        ));
    }
    let symmetric = algorithms.iter().filter(|a| a.starts_with("HS")).count();
    if symmetric != 0 && symmetric != algorithms.len() {
        return Err(ConfigError::new(
            format!("{key}.algorithms"),
            "mixes HMAC and public-key algorithms; one key source cannot serve both",
        ));
    }
    let sources = [
        raw.key_file.is_some(),
        raw.jwks_file.is_some(),
        raw.jwks_url.is_some(),
    ];
    if sources.iter().filter(|s| **s).count() != 1 {
        return Err(ConfigError::new(
            key,
            "set exactly one of key_file, jwks_file, jwks_url",
        ));
    }
    let key_source = if let Some(path) = raw.key_file {
        if symmetric > 0 {
            CustomTokenKey::Secret(
                Secret::from_file(Path::new(&path))
                    .map_err(|r| ConfigError::new(format!("{key}.key_file"), r))?,
            )
        } else {
            readable(&format!("{key}.key_file"), &path)?;
            CustomTokenKey::Pem(PathBuf::from(path))
        }
    } else if symmetric > 0 {
        return Err(ConfigError::new(
            format!("{key}.key_file"),
            "HMAC algorithms need key_file (a JWKS holds public keys)",
        ));
    } else if let Some(path) = raw.jwks_file {
        readable(&format!("{key}.jwks_file"), &path)?;
        CustomTokenKey::JwksFile(PathBuf::from(path))
    } else {
        let url = raw.jwks_url.unwrap_or_default();
        CustomTokenKey::JwksUrl(http_url(&format!("{key}.jwks_url"), &url)?)
    };
    let audience = raw.audience.unwrap_or_default();
    if audience.is_empty() || audience.iter().any(String::is_empty) {
        return Err(ConfigError::new(
            format!("{key}.audience"),
            "is required (the aud values your issuer puts in tokens for this app)",
        ));
    }
    let mut metadata = Vec::with_capacity(raw.metadata.len());
    for (index, field) in raw.metadata.into_iter().enumerate() {
        let name = |f: &str| format!("{key}.metadata[{index}].{f}");
        let claim = field
            .claim
            .filter(|c| !c.is_empty())
            .ok_or_else(|| ConfigError::new(name("claim"), "is required"))?;
        let target = field
            .field
            .filter(|f| !f.is_empty())
            .unwrap_or_else(|| claim.rsplit('.').next().unwrap_or(&claim).to_owned());
        metadata.push(MetadataField {
            claim,
            field: target,
            required: field.required.unwrap_or(false),
        });
    }
    let config = CustomTokenConfig {
        algorithms,
        key: key_source,
        audience,
        issuer: raw.issuer.filter(|i| !i.is_empty()),
        leeway: duration(&format!("{key}.leeway"), raw.leeway, "60s")?,
        metadata,
    };
    // A key file that holds no usable key stops start-up here, not at the first login.
    let source = match config.key {
        CustomTokenKey::Secret(_) | CustomTokenKey::Pem(_) => Some("key_file"),
        CustomTokenKey::JwksFile(_) => Some("jwks_file"),
        CustomTokenKey::JwksUrl(_) => None,
    };
    if let Some(source) = source {
        crate::auth::custom_token::check_keys(&config)
            .map_err(|reason| ConfigError::new(format!("{key}.{source}"), reason))?;
    }
    Ok(Some(config))
}

fn validate_custom_function(
    raw: RawCustomFunction,
) -> Result<Option<CustomFunctionConfig>, ConfigError> {
    let key = "providers.custom_function";
    if !raw.enabled.unwrap_or(false) {
        return Ok(None);
    }
    let url = raw.url.ok_or_else(|| {
        ConfigError::new(
            format!("{key}.url"),
            "is required when the provider is enabled",
        )
    })?;
    Ok(Some(CustomFunctionConfig {
        url: http_url(&format!("{key}.url"), &url)?,
        timeout: duration(&format!("{key}.timeout"), raw.timeout, "5s")?,
    }))
}

fn readable(key: &str, path: &str) -> Result<(), ConfigError> {
    std::fs::metadata(path)
        .map(|_| ())
        .map_err(|err| ConfigError::new(key, format!("cannot read {path}: {err}")))
}

fn http_url(key: &str, text: &str) -> Result<Url, ConfigError> {
    super::url(key, text)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::super::{Config, ConfigError, from_toml_str};

    fn load(extra: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let env: BTreeMap<String, String> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let text = format!("[app]\nid = \"myapp-abcde\"\n{extra}");
        from_toml_str(&text, &env, std::path::Path::new("."))
    }

    #[test]
    fn oidc_providers_get_their_names_issuers_and_defaults() {
        let config = load(
            "[providers.oauth2_google]\nenabled = true\nclient_ids = [\"web\", \"android\"]\n\
             [providers.oauth2_apple]\nenabled = true\nclient_ids = [\"com.example\"]\n\
             [[providers.oidc]]\nname = \"corp\"\nissuer = \"https://id.corp.example/realm/\"\n\
             client_ids = [\"gw\"]\nredirect_uris = [\"https://app.example/done\"]\n",
            &[(
                "SESSIONGATE_PROVIDERS__OAUTH2_GOOGLE__CLIENT_SECRET",
                "s3cret",
            )],
        )
        .unwrap();
        let names: Vec<&str> = config
            .providers
            .oidc
            .iter()
            .map(|p| p.name.as_str())
            .collect();
        assert_eq!(names, ["oauth2-google", "oauth2-apple", "oidc-corp"]);
        let [google, apple, corp] = &config.providers.oidc[..] else {
            panic!("three providers");
        };
        assert_eq!(google.issuer, super::GOOGLE_ISSUER);
        assert_eq!(
            google.client_secret.as_ref().map(|s| s.expose()),
            Some(&b"s3cret"[..])
        );
        assert_eq!(google.scopes, ["openid", "email", "profile"]);
        assert_eq!(apple.issuer, super::APPLE_ISSUER);
        assert_eq!(apple.scopes, ["openid"]);
        assert!(apple.client_secret.is_none() && apple.redirect_uris.is_empty());
        assert_eq!(
            corp.discovery_url.as_str(),
            "https://id.corp.example/realm/.well-known/openid-configuration"
        );
        assert_eq!(corp.leeway, std::time::Duration::from_secs(60));
        // The secret never prints.
        assert!(!format!("{google:?}").contains("s3cret"));
        // Disabled by default.
        assert!(load("", &[]).unwrap().providers.oidc.is_empty());
    }

    #[test]
    fn oidc_config_mistakes_name_their_key() {
        for (extra, key) in [
            (
                "[providers.oauth2_google]\nenabled = true\n",
                "providers.oauth2_google.client_ids",
            ),
            (
                "[providers.oauth2_google]\nenabled = true\nclient_ids = [\"a\"]\nclient_secret = \"x\"\n",
                "providers.oauth2_google.client_secret",
            ),
            (
                "[[providers.oidc]]\nname = \"c\"\nissuer = \"https://i.example\"\nclient_ids = [\"a\"]\nclient_secret = \"x\"\n",
                "providers.oidc[0].client_secret",
            ),
            (
                "[[providers.oidc]]\nname = \"Corp!\"\nissuer = \"https://i.example\"\nclient_ids = [\"a\"]\n",
                "providers.oidc[0].name",
            ),
            (
                "[[providers.oidc]]\nname = \"c\"\nclient_ids = [\"a\"]\n",
                "providers.oidc[0].issuer",
            ),
            (
                "[[providers.oidc]]\nname = \"c\"\nissuer = \"https://i.example\"\nclient_ids = [\"a\"]\n\
                 [[providers.oidc]]\nname = \"c\"\nissuer = \"https://j.example\"\nclient_ids = [\"b\"]\n",
                "providers.oidc[1].name",
            ),
            (
                "[providers.oauth2_apple]\nenabled = true\nclient_ids = [\"a\"]\nredirect_uris = [\"https://a.example/#x\"]\n",
                "providers.oauth2_apple.redirect_uris",
            ),
            (
                "[providers.oauth2_apple]\nenabled = true\nclient_ids = [\"a\"]\nscopes = [\"email\"]\n",
                "providers.oauth2_apple.scopes",
            ),
            (
                "[providers.oauth2_apple]\nenabled = true\nclient_ids = [\"a\"]\nname = \"x\"\n",
                "providers.oauth2_apple.name",
            ),
        ] {
            let err = load(extra, &[]).unwrap_err();
            assert_eq!(err.key, key, "{extra}: {err}");
        }
    }
}
