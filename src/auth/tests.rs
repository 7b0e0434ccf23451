use super::login::{requested_device_id, truncate};

#[test]
fn device_id_accepts_string_and_ejson_oid_only_when_object_id() {
    let oid = "5f1b2c3d4e5f6a7b8c9d0e1f";
    assert_eq!(
        requested_device_id(&serde_json::json!({"options":{"device":{"deviceId": oid}}})),
        Some(oid.to_owned())
    );
    assert_eq!(
        requested_device_id(&serde_json::json!({"options":{"device":{"deviceId": {"$oid": oid}}}})),
        Some(oid.to_owned())
    );
    assert_eq!(
        requested_device_id(&serde_json::json!({"options":{"device":{"deviceId": "nope"}}})),
        None
    );
    assert_eq!(
        requested_device_id(
            &serde_json::json!({"options":{"device":{"deviceId": "000000000000000000000000"}}})
        ),
        None
    );
    assert_eq!(requested_device_id(&serde_json::json!([1, 2])), None);
}

#[test]
fn truncate_respects_char_boundaries() {
    assert_eq!(truncate("aé", 2), "a");
    assert_eq!(truncate("abc", 10), "abc");
}
