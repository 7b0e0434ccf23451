//! OpenID Connect providers: `oauth2-google`, `oauth2-apple` and every `[[providers.oidc]]`,
//! each an issuer found by discovery; and their validation.

use std::path::Path;
use std::time::Duration;

use serde::Serialize;
use url::Url;

use super::super::fields::{duration, ser_duration};
use super::super::raw::RawOidc;
use super::super::{ConfigError, Secret};
use super::http_url;

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

pub(super) fn validate(
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
