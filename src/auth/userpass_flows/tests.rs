use serde_json::json;

use super::redeem::{Decision, decision};
use super::*;

#[test]
fn flows_are_found_by_path() {
    assert_eq!(Flow::from_segments(&["confirm"]), Some(Flow::Confirm));
    assert_eq!(
        Flow::from_segments(&["confirm", "call"]),
        Some(Flow::ConfirmCall)
    );
    assert_eq!(
        Flow::from_segments(&["reset", "send"]),
        Some(Flow::ResetSend)
    );
    assert_eq!(Flow::from_segments(&["reset", "other"]), None);
    assert_eq!(Flow::from_segments(&[]), None);
}

#[test]
fn webhook_decisions_are_strict() {
    assert_eq!(
        decision(br#"{"status":"success"}"#),
        Some(Decision::Success)
    );
    assert_eq!(
        decision(br#"{"status":"pending"}"#),
        Some(Decision::Pending)
    );
    assert_eq!(decision(br#"{"status":"fail"}"#), Some(Decision::Fail));
    assert_eq!(decision(br#"{"status":"SUCCESS"}"#), None);
    assert_eq!(decision(br#"{"ok":true}"#), None);
    assert_eq!(decision(b"success"), None);
}

#[test]
fn flow_body_reads_realm_web_field_names() {
    let body: FlowBody =
        serde_json::from_value(json!({"token": "t", "tokenId": "i", "password": "p"})).unwrap();
    assert_eq!(body.token.as_deref(), Some("t"));
    assert_eq!(body.token_id.as_deref(), Some("i"));
}
