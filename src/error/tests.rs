use super::*;
use crate::tokens::TokenError;
use http_body_util::BodyExt;

#[tokio::test]
async fn error_body_has_error_and_error_code() {
    let response = ApiError::invalid_session().into_response();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(value["error_code"], "InvalidSession");
    assert_eq!(value["error"], "invalid session");
}

#[test]
fn method_not_allowed_names_the_allowed_methods() {
    let response = ApiError::method_not_allowed("GET, DELETE").into_response();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(response.headers()[http::header::ALLOW], "GET, DELETE");
    let response = ApiError::not_found().into_response();
    assert!(!response.headers().contains_key(http::header::ALLOW));
}

#[test]
fn every_token_failure_is_invalid_session() {
    for err in [
        TokenError::Malformed,
        TokenError::Expired,
        TokenError::BadSignature,
        TokenError::UnknownKey,
        TokenError::Revoked,
        TokenError::NotYetValid,
        TokenError::LifetimeTooLong,
        TokenError::UnsupportedHeader,
        TokenError::UnsafeIdentity,
    ] {
        let api = ApiError::from(err);
        assert_eq!(
            (api.status, api.code),
            (StatusCode::UNAUTHORIZED, ErrorCode::InvalidSession)
        );
    }
}
