//! A configured key pair (`tokens.signing_key_file` + `verifying_key_file`): parsed for its
//! algorithm, and checked to belong together before anything is signed with it.

use jsonwebtoken::{DecodingKey, EncodingKey};

use super::{KeyError, SigningKey, derive_kid, jwt_algorithm};
use crate::config::SigningAlgorithm;
use crate::tokens::signer::Signer;

/// A key from PEM halves, its `kid` derived from the public half; refused unless the halves
/// belong together.
pub(super) fn pem_key(
    algorithm: SigningAlgorithm,
    private_pem: &[u8],
    public_pem: &[u8],
) -> Result<SigningKey, KeyError> {
    let bad = |err: jsonwebtoken::errors::Error| {
        KeyError::BadKey(format!("not a usable {algorithm:?} PEM key: {err}"))
    };
    let (encoding, decoding) = match algorithm {
        // ring, not the `rsa` crate, signs RS256: see `signer`.
        SigningAlgorithm::RS256 => (
            Signer::rs256_from_pem(private_pem).map_err(|reason| {
                KeyError::BadKey(format!("not a usable {algorithm:?} PEM key: {reason}"))
            })?,
            DecodingKey::from_rsa_pem(public_pem).map_err(bad)?,
        ),
        SigningAlgorithm::ES256 => (
            EncodingKey::from_ec_pem(private_pem).map_err(bad)?.into(),
            DecodingKey::from_ec_pem(public_pem).map_err(bad)?,
        ),
        SigningAlgorithm::EdDSA => (
            EncodingKey::from_ed_pem(private_pem).map_err(bad)?.into(),
            DecodingKey::from_ed_pem(public_pem).map_err(bad)?,
        ),
        SigningAlgorithm::HS256 | SigningAlgorithm::HS384 | SigningAlgorithm::HS512 => {
            return Err(KeyError::BadKey(
                "HMAC algorithms take a secret, not a PEM key pair".to_owned(),
            ));
        }
    };
    check_pair(algorithm, &encoding, &decoding)?;
    Ok(SigningKey {
        kid: derive_kid(public_pem),
        active_from: 0,
        encoding,
        decoding,
    })
}

/// Signs a probe with the private key and verifies it with the public one: a pair that does
/// not belong together would sign tokens that every replica refuses.
fn check_pair(
    algorithm: SigningAlgorithm,
    encoding: &Signer,
    decoding: &DecodingKey,
) -> Result<(), KeyError> {
    let alg = jwt_algorithm(algorithm);
    let token = encoding
        .sign(
            &jsonwebtoken::Header::new(alg),
            &serde_json::json!({"probe": true}),
        )
        .map_err(|reason| KeyError::BadKey(format!("cannot sign with the key: {reason}")))?;
    let (message, signature) = token.rsplit_once('.').unwrap_or_default();
    match jsonwebtoken::crypto::verify(signature, message.as_bytes(), decoding, alg) {
        Ok(true) => Ok(()),
        _ => Err(KeyError::BadKey(
            "the private key does not belong to tokens.verifying_key_file".to_owned(),
        )),
    }
}

/// Builds a key from PEM halves (tests of other modules).
#[cfg(test)]
pub fn pem_key_for_tests(
    algorithm: SigningAlgorithm,
    private_pem: &[u8],
    public_pem: &[u8],
) -> SigningKey {
    pem_key(algorithm, private_pem, public_pem).expect("test fixture keys are valid")
}
