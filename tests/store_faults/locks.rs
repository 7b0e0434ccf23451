//! Concurrent admin calls on one user: one lock order, no deadlock.

use super::*;

fn new_user(id: &str) -> (NewUser, NewIdentity) {
    (
        NewUser {
            id: id.to_owned(),
            user_type: "normal".to_owned(),
            data: serde_json::json!({}),
            created_at: 1_000,
        },
        NewIdentity {
            id: format!("{id}-identity"),
            user_id: id.to_owned(),
            provider_type: "local-userpass".to_owned(),
            provider_id: "local-userpass".to_owned(),
            external_id: format!("{id}@example.com"),
        },
    )
}

fn new_session(id: &str, user_id: &str) -> NewSession {
    NewSession {
        id: id.to_owned(),
        user_id: user_id.to_owned(),
        provider_type: "local-userpass".to_owned(),
        device_id: "device".to_owned(),
        refresh_hash: id.as_bytes().to_vec(),
        client_ip: None,
        user_agent: None,
        created_at: 1_000,
        expires_at: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_disable_delete_and_logout_on_one_user_never_deadlock() {
    let Some(base) = postgres_url() else { return };
    let (url, schema) = fresh_schema(&base).await;
    // Two replicas: two stores, two pools.
    let a = store::connect(&url).await.expect("store a");
    let b = store::connect(&url).await.expect("store b");
    for round in 0..40 {
        let user_id = format!("u{round}");
        let (user, identity) = new_user(&user_id);
        a.create_user(&user, &identity).await.expect("create user");
        for n in 0..3 {
            a.create_session(&new_session(&format!("{user_id}-s{n}"), &user_id))
                .await
                .expect("create session");
        }
        let now = 2_000 + round;
        let first_session = format!("{user_id}-s0");
        let (disable, enable, logout, revoke_all, delete) = tokio::join!(
            a.set_user_disabled(&user_id, true, now),
            a.set_user_disabled(&user_id, false, now),
            b.revoke_session(&first_session, now),
            a.revoke_user_sessions(&user_id, None, now),
            b.delete_user(&user_id, now),
        );
        let failures: Vec<String> = [
            disable.err(),
            enable.err(),
            logout.err(),
            revoke_all.err(),
            delete.err(),
        ]
        .into_iter()
        .flatten()
        .map(|err| err.to_string())
        .collect();
        assert!(failures.is_empty(), "round {round}: {failures:?}");
        assert!(
            a.find_user(&user_id).await.expect("find").is_none(),
            "deleted"
        );
    }
    a.close().await;
    b.close().await;
    drop_schema(&base, &schema).await;
}
