//! `Signer`: the private half of a signing key. HMAC, ES256 and EdDSA sign through
//! jsonwebtoken; RS256 signs through ring.
//!
//! # Security
//! jsonwebtoken's RustCrypto backend signs RSA with the `rsa` crate, whose private-key
//! operations take time that depends on the key (the Marvin attack, RUSTSEC-2023-0071, no
//! fixed release). The gateway signs on every login and refresh, which anyone can ask for as
//! often as they like, so a remote timing attack on the signing key is plausible. ring's RSA
//! signing uses constant-time modular exponentiation, and ring is already compiled in for
//! rustls: RS256 tokens are built here (header and claims as jsonwebtoken encodes them, a
//! PKCS#1 v1.5 SHA-256 signature). Verification uses public keys only, which the advisory does
//! not concern, and stays with jsonwebtoken.
//!
//! Does not choose keys or verify tokens; `keys` and `access` do.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{EncodingKey, Header};
use ring::rand::SystemRandom;
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use rustls::pki_types::PrivateKeyDer;
use rustls::pki_types::pem::PemObject;
use serde::Serialize;

/// The private half of a signing key.
pub enum Signer {
    /// HMAC secrets, ECDSA and Ed25519 keys.
    Jwt(EncodingKey),
    /// An RSA key (2048 bits or more), RS256 through ring.
    Rs256(Arc<RsaKeyPair>),
}

impl From<EncodingKey> for Signer {
    fn from(key: EncodingKey) -> Self {
        Self::Jwt(key)
    }
}

impl Signer {
    /// An RS256 signer from a PEM private key (PKCS#8 `PRIVATE KEY` or PKCS#1 `RSA PRIVATE
    /// KEY`). ring refuses keys shorter than 2048 bits.
    pub fn rs256_from_pem(pem: &[u8]) -> Result<Self, String> {
        let key = PrivateKeyDer::from_pem_slice(pem)
            .map_err(|err| format!("not a PEM private key: {err}"))?;
        let pair = match &key {
            PrivateKeyDer::Pkcs8(der) => RsaKeyPair::from_pkcs8(der.secret_pkcs8_der()),
            PrivateKeyDer::Pkcs1(der) => RsaKeyPair::from_der(der.secret_pkcs1_der()),
            _ => return Err("not an RSA private key".to_owned()),
        }
        .map_err(|err| format!("not a usable RSA private key: {err}"))?;
        Ok(Self::Rs256(Arc::new(pair)))
    }

    /// `header.claims.signature`, each part base64url. `header.alg` must be this key's
    /// algorithm.
    pub fn sign<T: Serialize>(&self, header: &Header, claims: &T) -> Result<String, String> {
        match self {
            Self::Jwt(key) => {
                jsonwebtoken::encode(header, claims, key).map_err(|err| err.to_string())
            }
            Self::Rs256(pair) => {
                if header.alg != jsonwebtoken::Algorithm::RS256 {
                    return Err(format!("an RSA key signs RS256, not {:?}", header.alg));
                }
                let message = format!("{}.{}", part(header)?, part(claims)?);
                let signature = rsa_sign(pair, message.as_bytes())?;
                Ok(format!("{message}.{}", URL_SAFE_NO_PAD.encode(signature)))
            }
        }
    }
}

/// A PKCS#1 v1.5 SHA-256 signature of `message`.
fn rsa_sign(pair: &RsaKeyPair, message: &[u8]) -> Result<Vec<u8>, String> {
    let mut signature = vec![0; pair.public().modulus_len()];
    pair.sign(
        &RSA_PKCS1_SHA256,
        &SystemRandom::new(),
        message,
        &mut signature,
    )
    .map_err(|_| "RSA signing failed".to_owned())?;
    Ok(signature)
}

/// One base64url JSON part of a token, as jsonwebtoken writes it.
fn part<T: Serialize + ?Sized>(value: &T) -> Result<String, String> {
    let json = serde_json::to_vec(value).map_err(|err| err.to_string())?;
    Ok(URL_SAFE_NO_PAD.encode(json))
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::{Algorithm, DecodingKey, Validation};
    use serde_json::{Value, json};

    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read(&path).unwrap_or_else(|err| panic!("{path}: {err}"))
    }

    fn claims() -> Value {
        json!({"sub": "u1", "exp": 4_102_444_800_i64, "iat": 1_700_000_000})
    }

    #[test]
    fn rs256_tokens_signed_with_ring_are_what_jsonwebtoken_would_sign() {
        let signer = Signer::rs256_from_pem(&fixture("rsa_private.pem")).unwrap();
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some("k1".to_owned());
        let ours = signer.sign(&header, &claims()).unwrap();
        // PKCS#1 v1.5 signatures are deterministic: byte for byte the same token.
        let reference = jsonwebtoken::encode(
            &header,
            &claims(),
            &EncodingKey::from_rsa_pem(&fixture("rsa_private.pem")).unwrap(),
        )
        .unwrap();
        assert_eq!(ours, reference);
        let public = DecodingKey::from_rsa_pem(&fixture("rsa_public.pem")).unwrap();
        let mut validation = Validation::new(Algorithm::RS256);
        validation.validate_exp = false;
        let decoded = jsonwebtoken::decode::<Value>(&ours, &public, &validation).unwrap();
        assert_eq!(decoded.claims, claims());
        assert_eq!(decoded.header.kid.as_deref(), Some("k1"));
    }

    #[test]
    fn an_rsa_signer_refuses_other_algorithms_and_other_key_types() {
        let signer = Signer::rs256_from_pem(&fixture("rsa_private.pem")).unwrap();
        assert!(
            signer
                .sign(&Header::new(Algorithm::RS512), &claims())
                .is_err()
        );
        let ec = Signer::rs256_from_pem(&fixture("ec_private.pem"))
            .err()
            .unwrap();
        assert!(ec.contains("RSA"), "{ec}");
        let garbage = Signer::rs256_from_pem(b"not a key").err().unwrap();
        assert!(garbage.contains("PEM"), "{garbage}");
    }
}
