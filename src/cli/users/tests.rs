//! Unit tests of `users`: the table and where the password comes from.

use super::*;

#[test]
fn the_table_shows_providers_email_and_rfc3339_dates() {
    let users = vec![json!({
        "_id": "u1",
        "type": "normal",
        "identities": [{"id": "i", "provider_type": "local-userpass", "provider_id": "p"}],
        "creation_date": 1_700_000_000,
        "disabled": true,
        "data": {"email": "a@example.com"},
    })];
    let text = users_table(&users);
    let mut lines = text.lines();
    assert_eq!(
        lines.next().unwrap().split_whitespace().collect::<Vec<_>>(),
        ["ID", "TYPE", "PROVIDERS", "EMAIL", "DISABLED", "CREATED"]
    );
    assert_eq!(
        lines.next().unwrap().split_whitespace().collect::<Vec<_>>(),
        [
            "u1",
            "normal",
            "local-userpass",
            "a@example.com",
            "yes",
            "2023-11-14T22:13:20Z"
        ]
    );
}

#[test]
fn the_password_argument_wins_and_none_is_a_usage_error() {
    let from_arg = password_from(Some("p1".into()), false, Some("p2".into()));
    assert_eq!(from_arg.unwrap(), "p1");
    let from_env = password_from(None, false, Some("p2".into()));
    assert_eq!(from_env.unwrap(), "p2");
    let none = password_from(None, false, None).unwrap_err();
    assert_eq!(none.exit_code(), 2);
}
