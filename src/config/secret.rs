//! Secrets read from a file or an environment variable, never printed; and `mask_urls`, which
//! hides the passwords inside URLs wherever text that may hold one is printed or logged.
//!
//! Does not decide where a secret may come from; `config::raw` refuses secrets written in the
//! TOML file itself.

use std::borrow::Cow;
use std::fmt;
use std::path::Path;

/// A secret value (admin key, signing key). `Debug` and `Serialize` print `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl Secret {
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Self(bytes.into())
    }

    /// Reads a secret file; surrounding whitespace (a trailing newline) is not part of it.
    pub fn from_file(path: &Path) -> Result<Self, String> {
        let bytes =
            std::fs::read(path).map_err(|err| format!("cannot read {}: {err}", path.display()))?;
        let trimmed = bytes.trim_ascii();
        if trimmed.is_empty() {
            return Err(format!("{} is empty", path.display()));
        }
        Ok(Self(trimmed.to_vec()))
    }

    /// The secret's bytes. Callers must not log them.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl serde::Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str("***")
    }
}

/// What a masked password reads as.
const MASK: &str = "***";

/// `text` with the password of every URL in it masked: the userinfo password
/// (`postgres://user:***@host/db`) and `password=` query values (`?password=***`, as libpq and
/// sqlx accept). Works on a bare URL and on free text (an error message echoing a URL).
///
/// # Security
/// A URL is found by its `://`; its end by whitespace or a quote. Text without `://` is
/// returned as it is, so a secret outside any URL is the caller's to keep out of the text.
pub fn mask_urls(text: &str) -> Cow<'_, str> {
    if !text.contains("://") {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (before, after) = rest.split_at(at + 3);
        out.push_str(before);
        let end = after
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '`' | '<' | '>'))
            .unwrap_or(after.len());
        let (url, tail) = after.split_at(end);
        mask_one(url, &mut out);
        rest = tail;
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// Appends `url` (what follows `scheme://`) with its passwords masked.
fn mask_one(url: &str, out: &mut String) {
    let authority_end = url.find(['/', '?', '#']).unwrap_or(url.len());
    let (authority, path) = url.split_at(authority_end);
    match authority.rfind('@') {
        Some(at) => {
            let (userinfo, host) = authority.split_at(at);
            match userinfo.split_once(':') {
                Some((user, _password)) => {
                    out.push_str(user);
                    out.push(':');
                    out.push_str(MASK);
                }
                None => out.push_str(userinfo),
            }
            out.push_str(host);
        }
        None => out.push_str(authority),
    }
    let Some(query_at) = path.find('?') else {
        out.push_str(path);
        return;
    };
    let (path, query) = path.split_at(query_at + 1);
    out.push_str(path);
    let (query, fragment) = match query.find('#') {
        Some(hash) => query.split_at(hash),
        None => (query, ""),
    };
    for (i, pair) in query.split('&').enumerate() {
        if i > 0 {
            out.push('&');
        }
        match pair.split_once('=') {
            Some((key, _)) if key.eq_ignore_ascii_case("password") => {
                out.push_str(key);
                out.push('=');
                out.push_str(MASK);
            }
            _ => out.push_str(pair),
        }
    }
    out.push_str(fragment);
}

/// `serde_json` value with `mask_urls` applied to every string in it (`config check`).
pub fn mask_json(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::String(text) => {
            if let Cow::Owned(masked) = mask_urls(text) {
                *text = masked;
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(mask_json),
        serde_json::Value::Object(fields) => fields.values_mut().for_each(mask_json),
        _ => {}
    }
}

/// Shortest HMAC secret accepted, in bytes (256 bits of key material for HS256).
pub const HMAC_SECRET_MIN_BYTES: usize = 32;
/// Fewest distinct byte values an HMAC secret must use. A random hex string of 32 characters
/// has fewer than 8 with probability ~4e-8; a password repeated to length rarely has more.
const HMAC_SECRET_MIN_DISTINCT: usize = 8;
/// A secret that is a shorter unit repeated (`abcdefgh` × 4) is refused when the unit is
/// shorter than this.
const HMAC_SECRET_MIN_PERIOD: usize = 16;

/// Whether `secret` can be an HMAC signing secret; the reason when it cannot.
///
/// # Security
/// Anyone who knows an HMAC secret can mint tokens. Public key material (PEM, a JWK, an SSH
/// public key) is published by design, so it is refused outright: configured by mistake as
/// the HS256 secret, it would let anyone with the public key mint tokens. Short or repetitive
/// strings (few distinct bytes, a short unit repeated) are refused as guessable. The checks
/// are heuristics against mistakes, not a randomness test: generate the secret
/// (`openssl rand -base64 48`).
pub fn check_hmac_secret(secret: &[u8]) -> Result<(), String> {
    let text = String::from_utf8_lossy(secret);
    let trimmed = text.trim_start();
    if text.contains("-----BEGIN") {
        return Err("it is PEM key material (a key pair needs an asymmetric algorithm)".into());
    }
    if trimmed.starts_with('{')
        && serde_json::from_str::<serde_json::Value>(trimmed)
            .is_ok_and(|v| v.get("kty").is_some() || v.get("keys").is_some())
    {
        return Err("it is a JWK (key material, not a secret)".into());
    }
    if ["ssh-", "ecdsa-sha2-", "sk-ssh-", "sk-ecdsa-"]
        .iter()
        .any(|prefix| trimmed.starts_with(prefix))
    {
        return Err("it is an SSH public key".into());
    }
    if secret.len() < HMAC_SECRET_MIN_BYTES {
        return Err(format!(
            "it is {} bytes, at least {HMAC_SECRET_MIN_BYTES} are required",
            secret.len()
        ));
    }
    let mut seen = [false; 256];
    for &byte in secret {
        seen[usize::from(byte)] = true;
    }
    let distinct = seen.iter().filter(|&&s| s).count();
    if distinct < HMAC_SECRET_MIN_DISTINCT {
        return Err(format!(
            "it uses only {distinct} distinct bytes (low entropy; generate a random secret)"
        ));
    }
    let repeats = |period: usize| secret.iter().skip(period).zip(secret).all(|(a, b)| a == b);
    if let Some(period) = (1..HMAC_SECRET_MIN_PERIOD).find(|&p| repeats(p)) {
        return Err(format!(
            "it repeats a {period}-byte pattern (low entropy; generate a random secret)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_passwords_are_masked_in_urls_and_free_text() {
        assert_eq!(
            mask_urls("postgres://gw:hunter2@db.internal:5432/sessions?sslmode=require"),
            "postgres://gw:***@db.internal:5432/sessions?sslmode=require"
        );
        assert_eq!(
            mask_urls("postgres://db/x?user=gw&password=hunter2#f"),
            "postgres://db/x?user=gw&password=***#f"
        );
        assert_eq!(
            mask_urls("cannot connect to \"https://u:p%40ss@h/x\": refused; see http://a:b@c"),
            "cannot connect to \"https://u:***@h/x\": refused; see http://a:***@c"
        );
        // A password holding '@' and ':' is masked whole (the host follows the last '@').
        assert_eq!(
            mask_urls("postgres://u:p@s:s@h/db"),
            "postgres://u:***@h/db"
        );
        assert_eq!(mask_urls("http://user@h/x"), "http://user@h/x");
        assert_eq!(mask_urls("no url here: a:b@c"), "no url here: a:b@c");
        assert!(matches!(mask_urls("sqlite://data/x.db"), Cow::Owned(_)));
    }

    #[test]
    fn json_strings_are_masked_everywhere() {
        let mut value = serde_json::json!({"store": {"url": "postgres://u:pw@h/db"}, "list": ["https://a:b@c/"], "n": 1});
        mask_json(&mut value);
        assert_eq!(
            value,
            serde_json::json!({"store": {"url": "postgres://u:***@h/db"}, "list": ["https://a:***@c/"], "n": 1})
        );
    }

    #[test]
    fn debug_and_serialize_mask_the_value() {
        let secret = Secret::new("hunter2-hunter2");
        assert_eq!(format!("{secret:?}"), "***");
        assert_eq!(serde_json::to_string(&secret).unwrap(), "\"***\"");
    }

    #[test]
    fn file_secret_is_trimmed_and_empty_file_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        std::fs::write(&path, "abc\n").unwrap();
        assert_eq!(Secret::from_file(&path).unwrap().expose(), b"abc");
        std::fs::write(&path, "\n").unwrap();
        assert!(Secret::from_file(&path).unwrap_err().contains("empty"));
        assert!(Secret::from_file(&dir.path().join("missing")).is_err());
    }

    #[test]
    fn key_material_and_low_entropy_strings_are_not_hmac_secrets() {
        let pem = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/rsa_public.pem"
        ))
        .unwrap();
        let jwk = br#"{"kty":"RSA","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4","e":"AQAB"}"#;
        let refused: [&[u8]; 7] = [
            &pem,
            jwk,
            b"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl",
            b"short-but-random-Xq8!",
            b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            b"passwordpasswordpasswordpassword",
            b"abcdefghabcdefghabcdefghabcdefgh",
        ];
        for secret in refused {
            assert!(
                check_hmac_secret(secret).is_err(),
                "{}",
                String::from_utf8_lossy(secret)
            );
        }
        for secret in [
            "test-signing-secret-0123456789abcdef",
            "0123456789abcdef0123456789abcdef",
            "bench-signing-secret-of-at-least-32-bytes-0123456789",
            "i5iZOFW7EM3Ce8o4hUTX4XUX3+ix8PChlo4FEQpDuDwyyktzr9Gg8EStqQNlPuUY",
        ] {
            assert!(check_hmac_secret(secret.as_bytes()).is_ok(), "{secret}");
        }
    }
}
