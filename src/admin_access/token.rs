//! Admin API access and refresh tokens: what `POST /api/admin/v3.0/auth/providers/mongodb-cloud/login`
//! hands out for an admin key, so scripts written against the App Services Admin API (log in,
//! then send `Authorization: Bearer <access_token>`) run unchanged against the gateway.
//!
//! A token is `sgadm.<kind>.<key name>.<expires>.<mac>`: the kind (`a` access, `r` refresh),
//! the admin key's name, the expiry in Unix seconds, and an HMAC-SHA256 over the rest keyed by
//! the SHA-256 of that admin key. Nothing is stored, so every replica with the same admin keys
//! accepts it; it ends when it expires or when its admin key is rotated or removed (the MAC no
//! longer verifies), which `[[admin.keys]]` makes possible without downtime.
//!
//! # Security
//! The MAC is checked in constant time (`hmac`'s `verify_slice`); the key name is only a
//! lookup hint, never trusted on its own; a refresh token is never accepted as an access token.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Lifetime of an admin access token (App Services: 30 minutes).
pub const ACCESS_TTL_SECS: i64 = 30 * 60;
/// Lifetime of an admin refresh token.
pub const REFRESH_TTL_SECS: i64 = 24 * 60 * 60;

const PREFIX: &str = "sgadm";

/// What a token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Access,
    Refresh,
}

impl Kind {
    fn tag(self) -> &'static str {
        match self {
            Self::Access => "a",
            Self::Refresh => "r",
        }
    }
}

/// Whether `token` looks like an admin token (else it is judged as an admin key).
pub fn is_token(token: &str) -> bool {
    token.starts_with("sgadm.")
}

/// A new token of `kind` for the admin key `name` (whose SHA-256 is `digest`).
pub fn mint(kind: Kind, name: &str, digest: &[u8; 32], now: i64) -> String {
    let ttl = match kind {
        Kind::Access => ACCESS_TTL_SECS,
        Kind::Refresh => REFRESH_TTL_SECS,
    };
    let body = format!("{PREFIX}.{}.{name}.{}", kind.tag(), now + ttl);
    let mac = hex::encode(mac(digest, &body).finalize().into_bytes());
    format!("{body}.{mac}")
}

/// The key name a valid, unexpired token of `kind` was minted for; `digest_of` finds the
/// current digest of a key by name.
pub fn verify<'k>(
    token: &str,
    kind: Kind,
    now: i64,
    digest_of: impl Fn(&str) -> Option<&'k [u8; 32]>,
) -> Option<String> {
    let (body, presented) = token.rsplit_once('.')?;
    let mut parts = body.splitn(4, '.');
    let (prefix, tag, name, expires) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    if prefix != PREFIX || tag != kind.tag() {
        return None;
    }
    let presented = hex::decode(presented).ok()?;
    let digest = digest_of(name)?;
    mac(digest, body).verify_slice(&presented).ok()?;
    let expires: i64 = expires.parse().ok()?;
    (now < expires).then(|| name.to_owned())
}

fn mac(digest: &[u8; 32], body: &str) -> Hmac<Sha256> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(digest).expect("HMAC takes any key length");
    mac.update(body.as_bytes());
    mac
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; 32] = [7; 32];
    const OTHER: [u8; 32] = [8; 32];

    fn lookup(name: &str) -> Option<&'static [u8; 32]> {
        (name == "ops").then_some(&KEY)
    }

    #[test]
    fn a_token_verifies_for_its_key_kind_and_lifetime_only() {
        let access = mint(Kind::Access, "ops", &KEY, 1000);
        assert_eq!(
            verify(&access, Kind::Access, 1000, lookup),
            Some("ops".to_owned())
        );
        assert_eq!(verify(&access, Kind::Refresh, 1000, lookup), None, "kind");
        assert_eq!(
            verify(&access, Kind::Access, 1000 + ACCESS_TTL_SECS, lookup),
            None,
            "expired"
        );
        // The key rotated: the same name, another digest.
        assert_eq!(verify(&access, Kind::Access, 1000, |_| Some(&OTHER)), None);
        let refresh = mint(Kind::Refresh, "ops", &KEY, 1000);
        assert_eq!(verify(&refresh, Kind::Access, 1000, lookup), None);
        assert_eq!(
            verify(&refresh, Kind::Refresh, 1000, lookup),
            Some("ops".to_owned())
        );
    }

    #[test]
    fn tampering_with_any_part_fails() {
        let token = mint(Kind::Access, "ops", &KEY, 1000);
        let (body, mac) = token.rsplit_once('.').unwrap();
        let later = body.replace(&(1000 + ACCESS_TTL_SECS).to_string(), "99999999999");
        for forged in [
            format!("{later}.{mac}"),
            format!("{}.{mac}", body.replace(".a.", ".r.")),
            format!("{body}.{}", "0".repeat(mac.len())),
            format!("{body}.zz"),
            format!("{body}."),
            body.to_owned(),
            "sgadm".to_owned(),
            String::new(),
        ] {
            assert_eq!(
                verify(&forged, Kind::Access, 1000, lookup),
                None,
                "{forged}"
            );
        }
    }
}
