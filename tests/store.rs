//! The store behaviour suite: every story runs against a real SQLite file, and against a real
//! PostgreSQL (a fresh schema per test) when `SESSIONGATE_TEST_POSTGRES_URL` is set — otherwise
//! the PostgreSQL half says it was skipped.

mod common;

use std::sync::Arc;
use std::time::Duration;

use sessiongate::store::{
    self, ApiKeyRecord, LocalAccount, NewIdentity, NewSession, NewUser, SigningKeyRecord, Store,
    StoreError, UserQuery, UserTokenKind, UserTokenRecord,
};
use sqlx::Connection;

/// A store under test and what keeps it alive (temp dir, PostgreSQL schema).
struct Backend {
    store: Arc<dyn Store>,
    url: String,
    _dir: Option<tempfile::TempDir>,
    /// PostgreSQL: the server URL and the schema to drop afterwards.
    schema: Option<(String, String)>,
}

impl Backend {
    async fn cleanup(self) {
        self.store.close().await;
        if let Some((base, schema)) = self.schema {
            let mut conn = sqlx::PgConnection::connect(&base).await.expect("connect");
            sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
                .execute(&mut conn)
                .await
                .expect("drop schema");
        }
    }
}

async fn sqlite() -> Backend {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("store.db").display());
    let store = store::connect(&url).await.expect("sqlite store opens");
    Backend {
        store,
        url,
        _dir: Some(dir),
        schema: None,
    }
}

/// A PostgreSQL store in a fresh schema, or `None` when no server is configured.
async fn postgres() -> Option<Backend> {
    let base = std::env::var("SESSIONGATE_TEST_POSTGRES_URL").ok()?;
    let (url, schema) = common::fresh_pg_schema(&base).await;
    let store = store::connect(&url).await.expect("postgres store opens");
    Some(Backend {
        store,
        url,
        _dir: None,
        schema: Some((base, schema)),
    })
}

macro_rules! on_both_backends {
    ($($story:ident),* $(,)?) => {$(
        mod $story {
            #[tokio::test]
            async fn sqlite() {
                let backend = super::sqlite().await;
                super::$story(&backend).await;
                backend.cleanup().await;
            }

            #[tokio::test]
            async fn postgres() {
                match super::postgres().await {
                    Some(backend) => {
                        super::$story(&backend).await;
                        backend.cleanup().await;
                    }
                    None => crate::common::skip_without(
                        "PostgreSQL (SESSIONGATE_TEST_POSTGRES_URL)",
                        concat!(stringify!($story), "::postgres"),
                    ),
                }
            }
        }
    )*};
}

on_both_backends!(
    users_round_trip_with_identities,
    duplicate_identity_is_a_conflict,
    local_account_is_created_whole_or_not_at_all,
    sessions_are_found_by_refresh_hash_and_touched_forward,
    revoking_records_numbered_revocations,
    revoking_a_user_revokes_only_live_sessions,
    concurrent_revocations_are_never_skipped_by_a_reader,
    settings_are_upserted,
    signing_keys_are_shared_and_kept_once,
    a_second_process_sees_the_same_data,
    users_are_listed_by_page_provider_and_email,
    disabling_a_user_revokes_its_sessions,
    deleting_a_user_revokes_then_removes_everything,
    grants_are_single_use_and_expire,
    sign_out_all_but_one_keeps_that_one,
    batched_touches_and_session_listing,
    lifecycle_purges_old_anonymous_users_and_expired_rows,
    identities_are_found_linked_and_never_shared,
    api_keys_are_kept_by_digest_per_user,
    user_tokens_are_single_use_expiring_and_kind_bound,
    local_accounts_are_confirmed_and_repassworded,
);

fn user(id: &str) -> NewUser {
    NewUser {
        id: id.to_owned(),
        user_type: "normal".to_owned(),
        data: serde_json::json!({"email": format!("{id}@example.com")}),
        created_at: 100,
    }
}

fn identity(user_id: &str, provider: &str, external: &str) -> NewIdentity {
    NewIdentity {
        id: sessiongate::ids::object_id(),
        user_id: user_id.to_owned(),
        provider_type: provider.to_owned(),
        provider_id: provider.to_owned(),
        external_id: external.to_owned(),
    }
}

fn session(id: &str, user_id: &str, hash: &[u8]) -> NewSession {
    NewSession {
        id: id.to_owned(),
        user_id: user_id.to_owned(),
        provider_type: "anon-user".to_owned(),
        device_id: "d".repeat(24),
        refresh_hash: hash.to_vec(),
        client_ip: Some("192.0.2.1".to_owned()),
        user_agent: Some("curl/8.0".to_owned()),
        created_at: 1000,
        expires_at: Some(5000),
    }
}

async fn with_user(store: &dyn Store, id: &str) {
    store
        .create_user(&user(id), &identity(id, "anon-user", id))
        .await
        .expect("create user");
}

async fn users_round_trip_with_identities(b: &Backend) {
    let store = b.store.as_ref();
    with_user(store, "u1").await;
    let found = store.find_user("u1").await.unwrap().expect("user exists");
    assert_eq!(found.id, "u1");
    assert_eq!(found.data["email"], "u1@example.com");
    assert!(!found.disabled);
    assert_eq!(found.identities.len(), 1);
    assert_eq!(found.identities[0].provider_type, "anon-user");
    store.record_login("u1", 4242).await.unwrap();
    assert_eq!(
        store.find_user("u1").await.unwrap().unwrap().last_login_at,
        Some(4242)
    );
    assert!(store.find_user("nobody").await.unwrap().is_none());
}

async fn duplicate_identity_is_a_conflict(b: &Backend) {
    let store = b.store.as_ref();
    store
        .create_user(&user("u1"), &identity("u1", "custom-token", "ext-1"))
        .await
        .unwrap();
    let err = store
        .create_user(&user("u2"), &identity("u2", "custom-token", "ext-1"))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict("identity")), "{err:?}");
    assert!(
        store.find_user("u2").await.unwrap().is_none(),
        "no half-created user"
    );
}

async fn local_account_is_created_whole_or_not_at_all(b: &Backend) {
    let store = b.store.as_ref();
    let account = |user_id: &str| LocalAccount {
        email: "ada@example.com".to_owned(),
        user_id: user_id.to_owned(),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".to_owned(),
        confirmed: true,
        password_reset_required: false,
    };
    store
        .create_local_user(
            &user("u1"),
            &identity("u1", "local-userpass", "ada@example.com"),
            &account("u1"),
        )
        .await
        .unwrap();
    let err = store
        .create_local_user(
            &user("u2"),
            &identity("u2", "local-userpass", "ada@example.com"),
            &account("u2"),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict("email")), "{err:?}");
    assert!(
        store.find_user("u2").await.unwrap().is_none(),
        "the failed registration left nothing behind"
    );
    let found = store
        .find_local_account("ada@example.com")
        .await
        .unwrap()
        .expect("account");
    assert_eq!(found.user_id, "u1");
    assert!(found.confirmed);
    assert!(
        store
            .find_local_account("bob@example.com")
            .await
            .unwrap()
            .is_none()
    );
}

async fn sessions_are_found_by_refresh_hash_and_touched_forward(b: &Backend) {
    let store = b.store.as_ref();
    with_user(store, "u1").await;
    store
        .create_session(&session("s1", "u1", b"hash-1"))
        .await
        .unwrap();
    let found = store
        .find_session_by_refresh_hash(b"hash-1")
        .await
        .unwrap()
        .expect("session");
    assert_eq!(
        (found.id.as_str(), found.last_used_at, found.expires_at),
        ("s1", 1000, Some(5000))
    );
    assert_eq!(found.client_ip.as_deref(), Some("192.0.2.1"));
    assert!(found.is_live(4999) && !found.is_live(5000));
    store.touch_session("s1", 2000).await.unwrap();
    store.touch_session("s1", 1500).await.unwrap();
    assert_eq!(
        store
            .find_session("s1")
            .await
            .unwrap()
            .unwrap()
            .last_used_at,
        2000,
        "last_used_at never goes back"
    );
    assert!(
        store
            .find_session_by_refresh_hash(b"other")
            .await
            .unwrap()
            .is_none()
    );
}

async fn revoking_records_numbered_revocations(b: &Backend) {
    let store = b.store.as_ref();
    with_user(store, "u1").await;
    store
        .create_session(&session("s1", "u1", b"h1"))
        .await
        .unwrap();
    store
        .create_session(&session("s2", "u1", b"h2"))
        .await
        .unwrap();
    assert_eq!(store.last_revocation_seq().await.unwrap(), 0);
    assert!(store.revoke_session("s1", 3000).await.unwrap());
    assert!(
        !store.revoke_session("s1", 3001).await.unwrap(),
        "second revoke is a no-op"
    );
    assert!(!store.revoke_session("missing", 3001).await.unwrap());
    assert!(store.revoke_session("s2", 3002).await.unwrap());
    let all = store.revocations_since(0, 100).await.unwrap();
    assert_eq!(
        all.iter()
            .map(|r| r.session_id.as_str())
            .collect::<Vec<_>>(),
        ["s1", "s2"]
    );
    assert!(all[0].seq < all[1].seq);
    let before = sessiongate::ids::now_ms();
    for revocation in &all {
        let committed = revocation.committed_at_ms.expect("commit time recorded");
        assert!(
            committed > before - 60_000 && committed <= before,
            "commit time in ms of the writer's clock: {committed} vs {before}"
        );
    }
    assert_eq!(
        store
            .revocations_since(all[0].seq, 100)
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(store.last_revocation_seq().await.unwrap(), all[1].seq);
    assert_eq!(
        store.find_session("s1").await.unwrap().unwrap().revoked_at,
        Some(3000)
    );
}

async fn revoking_a_user_revokes_only_live_sessions(b: &Backend) {
    let store = b.store.as_ref();
    with_user(store, "u1").await;
    with_user(store, "u2").await;
    store
        .create_session(&session("a", "u1", b"ha"))
        .await
        .unwrap();
    store
        .create_session(&session("b", "u1", b"hb"))
        .await
        .unwrap();
    store
        .create_session(&session("c", "u2", b"hc"))
        .await
        .unwrap();
    store.revoke_session("a", 10).await.unwrap();
    let mut revoked = store.revoke_user_sessions("u1", None, 20).await.unwrap();
    revoked.sort();
    assert_eq!(revoked, ["b"]);
    assert!(
        store
            .find_session("c")
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_none(),
        "other users untouched"
    );
    assert!(
        store
            .revoke_user_sessions("u1", None, 30)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.revocations_since(0, 100).await.unwrap().len(), 2);
}

async fn concurrent_revocations_are_never_skipped_by_a_reader(b: &Backend) {
    const SESSIONS: usize = 40;
    with_user(b.store.as_ref(), "u1").await;
    for i in 0..SESSIONS {
        b.store
            .create_session(&session(&format!("s{i}"), "u1", format!("h{i}").as_bytes()))
            .await
            .unwrap();
    }
    let writers: Vec<_> = (0..SESSIONS)
        .map(|i| {
            let store = b.store.clone();
            tokio::spawn(async move { store.revoke_session(&format!("s{i}"), 100).await })
        })
        .collect();
    // A reader that follows by sequence number, as replicas do, while the writers run.
    let reader_store = b.store.clone();
    let reader = tokio::spawn(async move {
        let mut seen = std::collections::BTreeSet::new();
        let mut last = 0;
        while seen.len() < SESSIONS {
            for revocation in reader_store.revocations_since(last, 1000).await.unwrap() {
                last = last.max(revocation.seq);
                seen.insert(revocation.session_id);
            }
            tokio::task::yield_now().await;
        }
        seen
    });
    for writer in writers {
        assert!(writer.await.unwrap().unwrap());
    }
    let seen = tokio::time::timeout(Duration::from_secs(20), reader)
        .await
        .expect("reader saw every revocation")
        .unwrap();
    assert_eq!(seen.len(), SESSIONS);
}

async fn settings_are_upserted(b: &Backend) {
    let store = b.store.as_ref();
    assert_eq!(store.get_setting("k").await.unwrap(), None);
    store.put_setting("k", "1").await.unwrap();
    store.put_setting("k", "2").await.unwrap();
    assert_eq!(store.get_setting("k").await.unwrap().as_deref(), Some("2"));
}

async fn signing_keys_are_shared_and_kept_once(b: &Backend) {
    let store = b.store.as_ref();
    let key = |kid: &str, active_from: i64| SigningKeyRecord {
        kid: kid.to_owned(),
        algorithm: "HS256".to_owned(),
        secret: vec![7; 64],
        created_at: 1,
        active_from,
    };
    store.insert_signing_key(&key("k2", 20)).await.unwrap();
    store.insert_signing_key(&key("k1", 10)).await.unwrap();
    store
        .insert_signing_key(&SigningKeyRecord {
            secret: vec![9; 64],
            ..key("k1", 10)
        })
        .await
        .unwrap();
    let keys = store.signing_keys().await.unwrap();
    assert_eq!(
        keys.iter().map(|k| k.kid.as_str()).collect::<Vec<_>>(),
        ["k1", "k2"],
        "in order of activation"
    );
    assert_eq!(
        keys[0].secret,
        vec![7; 64],
        "an existing kid is never overwritten"
    );
}

async fn a_second_process_sees_the_same_data(b: &Backend) {
    with_user(b.store.as_ref(), "u1").await;
    b.store
        .create_session(&session("s1", "u1", b"h1"))
        .await
        .unwrap();
    let other = store::connect(&b.url)
        .await
        .expect("second connection to the same store");
    assert!(other.find_user("u1").await.unwrap().is_some());
    let signal = other.revocation_signal();
    b.store.revoke_session("s1", 50).await.unwrap();
    assert_eq!(other.revocations_since(0, 10).await.unwrap().len(), 1);
    match (b.store.backend(), signal) {
        ("postgres", Some(signal)) => {
            // The listener signals once when it connects and once per NOTIFY; both lead the
            // replica to read by sequence, which found the revocation above.
            tokio::time::timeout(Duration::from_secs(5), signal.notified())
                .await
                .expect("notified");
        }
        ("sqlite", None) => {}
        (backend, signal) => panic!("{backend}: unexpected signal {:?}", signal.is_some()),
    }
}

async fn users_are_listed_by_page_provider_and_email(b: &Backend) {
    let store = b.store.as_ref();
    for id in ["a1", "a2", "a3"] {
        with_user(store, id).await;
    }
    let account = LocalAccount {
        email: "ada@example.com".to_owned(),
        user_id: "b1".to_owned(),
        password_hash: "x".to_owned(),
        confirmed: true,
        password_reset_required: false,
    };
    store
        .create_local_user(
            &user("b1"),
            &identity("b1", "local-userpass", "ada@example.com"),
            &account,
        )
        .await
        .unwrap();
    let ids =
        |users: Vec<sessiongate::store::User>| users.into_iter().map(|u| u.id).collect::<Vec<_>>();
    let page = |after: Option<&str>, limit| UserQuery {
        after: after.map(str::to_owned),
        limit,
        ..UserQuery::default()
    };
    assert_eq!(
        ids(store.list_users(&page(None, 2)).await.unwrap()),
        ["a1", "a2"]
    );
    assert_eq!(
        ids(store.list_users(&page(Some("a2"), 10)).await.unwrap()),
        ["a3", "b1"]
    );
    let anon = UserQuery {
        provider: Some("anon-user".to_owned()),
        limit: 10,
        ..UserQuery::default()
    };
    assert_eq!(
        ids(store.list_users(&anon).await.unwrap()),
        ["a1", "a2", "a3"]
    );
    let by_email = UserQuery {
        email: Some("ada@example.com".to_owned()),
        limit: 10,
        ..UserQuery::default()
    };
    assert_eq!(ids(store.list_users(&by_email).await.unwrap()), ["b1"]);
}

async fn disabling_a_user_revokes_its_sessions(b: &Backend) {
    let store = b.store.as_ref();
    with_user(store, "u1").await;
    store
        .create_session(&session("s1", "u1", b"h1"))
        .await
        .unwrap();
    assert_eq!(
        store.set_user_disabled("u1", true, 10).await.unwrap(),
        Some(vec!["s1".to_owned()])
    );
    assert!(store.find_user("u1").await.unwrap().unwrap().disabled);
    assert_eq!(
        store.set_user_disabled("u1", false, 11).await.unwrap(),
        Some(vec![])
    );
    assert!(!store.find_user("u1").await.unwrap().unwrap().disabled);
    assert_eq!(
        store.set_user_disabled("nobody", true, 12).await.unwrap(),
        None
    );
    assert_eq!(store.revocations_since(0, 10).await.unwrap().len(), 1);
}

async fn deleting_a_user_revokes_then_removes_everything(b: &Backend) {
    let store = b.store.as_ref();
    with_user(store, "u1").await;
    with_user(store, "u2").await;
    store
        .create_session(&session("s1", "u1", b"h1"))
        .await
        .unwrap();
    store
        .create_session(&session("s2", "u2", b"h2"))
        .await
        .unwrap();
    assert_eq!(
        store.delete_user("u1", 10).await.unwrap(),
        Some(vec!["s1".to_owned()])
    );
    assert!(store.find_user("u1").await.unwrap().is_none());
    assert!(
        store.find_session("s1").await.unwrap().is_none(),
        "sessions go with the user"
    );
    let revocations = store.revocations_since(0, 10).await.unwrap();
    assert_eq!(
        revocations.len(),
        1,
        "the revocation outlives the user, for other replicas"
    );
    assert_eq!(store.delete_user("u1", 11).await.unwrap(), None);
    assert!(store.find_session("s2").await.unwrap().is_some());
}

async fn grants_are_single_use_and_expire(b: &Backend) {
    let store = b.store.as_ref();
    with_user(store, "u1").await;
    store.create_grant(b"g1", "u1", 100, 200).await.unwrap();
    store.create_grant(b"g2", "u1", 100, 150).await.unwrap();
    assert_eq!(
        store.consume_grant(b"g1", 199).await.unwrap().as_deref(),
        Some("u1")
    );
    assert_eq!(
        store.consume_grant(b"g1", 199).await.unwrap(),
        None,
        "single use"
    );
    assert_eq!(
        store.consume_grant(b"g2", 150).await.unwrap(),
        None,
        "expired"
    );
    assert_eq!(
        store.consume_grant(b"g2", 100).await.unwrap(),
        None,
        "an expired grant is gone"
    );
    assert_eq!(store.consume_grant(b"never", 0).await.unwrap(), None);
}

async fn sign_out_all_but_one_keeps_that_one(b: &Backend) {
    let store = b.store.as_ref();
    with_user(store, "u1").await;
    for (id, hash) in [("s1", b"h1"), ("s2", b"h2"), ("s3", b"h3")] {
        store
            .create_session(&session(id, "u1", hash))
            .await
            .unwrap();
    }
    let mut revoked = store
        .revoke_user_sessions("u1", Some("s2"), 10)
        .await
        .unwrap();
    revoked.sort();
    assert_eq!(revoked, ["s1", "s3"]);
    assert!(
        store
            .find_session("s2")
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_none()
    );
}

async fn batched_touches_and_session_listing(b: &Backend) {
    let store = b.store.as_ref();
    with_user(store, "u1").await;
    store
        .create_session(&session("s1", "u1", b"h1"))
        .await
        .unwrap();
    store
        .create_session(&NewSession {
            created_at: 2000,
            ..session("s2", "u1", b"h2")
        })
        .await
        .unwrap();
    store
        .touch_sessions(&[("s1".to_owned(), 3000), ("s2".to_owned(), 1500)])
        .await
        .unwrap();
    let sessions = store.list_sessions("u1").await.unwrap();
    assert_eq!(
        sessions.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
        ["s2", "s1"],
        "newest first"
    );
    assert_eq!(sessions[1].last_used_at, 3000);
    assert_eq!(sessions[0].last_used_at, 2000, "never moved back");
    assert!(store.list_sessions("nobody").await.unwrap().is_empty());
}

async fn lifecycle_purges_old_anonymous_users_and_expired_rows(b: &Backend) {
    let store = b.store.as_ref();
    with_user(store, "old-anon").await; // created_at 100, anon-user identity
    store
        .create_user(
            &NewUser {
                created_at: 10_000,
                ..user("new-anon")
            },
            &identity("new-anon", "anon-user", "new-anon"),
        )
        .await
        .unwrap();
    store
        .create_user(
            &user("old-linked"),
            &identity("old-linked", "anon-user", "old-linked"),
        )
        .await
        .unwrap();
    store
        .create_user(
            &user("ada"),
            &identity("ada", "local-userpass", "ada@example.com"),
        )
        .await
        .unwrap();
    store
        .create_session(&NewSession {
            expires_at: None,
            ..session("s-anon", "old-anon", b"h1")
        })
        .await
        .unwrap();
    let (users, revoked) = store
        .purge_anonymous_users(5_000, 6_000, 100)
        .await
        .unwrap();
    assert_eq!(users, 2, "both anonymous-only users, the newer one kept");
    assert_eq!(
        revoked,
        ["s-anon"],
        "live sessions are revoked before the user goes"
    );
    assert!(store.find_user("old-anon").await.unwrap().is_none());
    assert!(store.find_user("old-linked").await.unwrap().is_none());
    assert!(
        store.find_user("new-anon").await.unwrap().is_some(),
        "young anonymous users stay"
    );
    assert!(
        store.find_user("ada").await.unwrap().is_some(),
        "non-anonymous users stay"
    );

    store
        .create_session(&session("expired", "ada", b"h2"))
        .await
        .unwrap(); // expires 5000
    store
        .create_session(&NewSession {
            expires_at: Some(50_000),
            ..session("live", "ada", b"h3")
        })
        .await
        .unwrap();
    store.create_grant(b"g", "ada", 1, 2).await.unwrap();
    assert_eq!(store.purge_expired(7_000, 7_000).await.unwrap(), 1);
    assert!(store.find_session("expired").await.unwrap().is_none());
    assert!(store.find_session("live").await.unwrap().is_some());
    assert!(
        store.revocations_since(0, 10).await.unwrap().is_empty(),
        "old revocation records are purged"
    );
}

async fn identities_are_found_linked_and_never_shared(b: &Backend) {
    let store = b.store.as_ref();
    store
        .create_user(&user("u1"), &identity("u1", "custom-token", "sub-1"))
        .await
        .unwrap();
    with_user(store, "u2").await;
    assert_eq!(
        store
            .find_identity("custom-token", "sub-1")
            .await
            .unwrap()
            .as_deref(),
        Some("u1")
    );
    assert_eq!(
        store
            .find_identity("custom-function", "sub-1")
            .await
            .unwrap(),
        None
    );
    store
        .add_identity(&identity("u1", "custom-function", "fn-1"))
        .await
        .unwrap();
    assert_eq!(
        store
            .find_user("u1")
            .await
            .unwrap()
            .unwrap()
            .identities
            .len(),
        2
    );
    let err = store
        .add_identity(&identity("u2", "custom-token", "sub-1"))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict("identity")), "{err:?}");
    store
        .update_user_data("u1", &serde_json::json!({"name": "Ada"}))
        .await
        .unwrap();
    assert_eq!(
        store.find_user("u1").await.unwrap().unwrap().data["name"],
        "Ada"
    );
}

async fn api_keys_are_kept_by_digest_per_user(b: &Backend) {
    let store = b.store.as_ref();
    with_user(store, "u1").await;
    with_user(store, "u2").await;
    let key = |id: &str, user: &str, name: &str, hash: &[u8]| ApiKeyRecord {
        id: id.to_owned(),
        user_id: user.to_owned(),
        name: name.to_owned(),
        key_hash: hash.to_vec(),
        disabled: false,
        created_at: 1,
    };
    store
        .create_api_key(&key("k1", "u1", "laptop", b"d1"))
        .await
        .unwrap();
    store
        .create_api_key(&key("k2", "u2", "laptop", b"d2"))
        .await
        .unwrap();
    let err = store
        .create_api_key(&key("k3", "u1", "laptop", b"d3"))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict("api key")), "{err:?}");
    assert_eq!(
        store.find_api_key_by_hash(b"d1").await.unwrap().unwrap().id,
        "k1"
    );
    assert!(
        !store.set_api_key_disabled("u2", "k1", true).await.unwrap(),
        "not u2's key"
    );
    assert!(store.set_api_key_disabled("u1", "k1", true).await.unwrap());
    assert!(store.list_api_keys("u1").await.unwrap()[0].disabled);
    assert!(!store.delete_api_key("u2", "k1").await.unwrap());
    assert!(store.delete_api_key("u1", "k1").await.unwrap());
    assert!(store.find_api_key_by_hash(b"d1").await.unwrap().is_none());
    assert_eq!(store.list_api_keys("u2").await.unwrap().len(), 1);
}

async fn user_tokens_are_single_use_expiring_and_kind_bound(b: &Backend) {
    let store = b.store.as_ref();
    let token = |id: &str, kind, expires_at| UserTokenRecord {
        id: id.to_owned(),
        kind,
        email: "ada@example.com".to_owned(),
        token_hash: b"digest".to_vec(),
        created_at: 1,
        expires_at,
    };
    store
        .create_user_token(&token("t1", UserTokenKind::Confirm, 100))
        .await
        .unwrap();
    store
        .create_user_token(&token("t2", UserTokenKind::Reset, 100))
        .await
        .unwrap();
    store
        .create_user_token(&token("t3", UserTokenKind::Reset, 50))
        .await
        .unwrap();
    assert_eq!(
        store
            .consume_user_token(UserTokenKind::Reset, "t1", b"digest", 10)
            .await
            .unwrap(),
        None,
        "wrong kind"
    );
    assert_eq!(
        store
            .consume_user_token(UserTokenKind::Confirm, "t1", b"other", 10)
            .await
            .unwrap(),
        None,
        "wrong token"
    );
    assert_eq!(
        store
            .consume_user_token(UserTokenKind::Confirm, "t1", b"digest", 10)
            .await
            .unwrap()
            .as_deref(),
        Some("ada@example.com")
    );
    assert_eq!(
        store
            .consume_user_token(UserTokenKind::Confirm, "t1", b"digest", 10)
            .await
            .unwrap(),
        None,
        "single use"
    );
    assert_eq!(
        store
            .consume_user_token(UserTokenKind::Reset, "t3", b"digest", 60)
            .await
            .unwrap(),
        None,
        "expired"
    );
    assert!(
        store
            .consume_user_token(UserTokenKind::Reset, "t2", b"digest", 60)
            .await
            .unwrap()
            .is_some()
    );
}

async fn local_accounts_are_confirmed_and_repassworded(b: &Backend) {
    let store = b.store.as_ref();
    let account = LocalAccount {
        email: "ada@example.com".to_owned(),
        user_id: "u1".to_owned(),
        password_hash: "old".to_owned(),
        confirmed: false,
        password_reset_required: false,
    };
    store
        .create_local_user(
            &user("u1"),
            &identity("u1", "local-userpass", "ada@example.com"),
            &account,
        )
        .await
        .unwrap();
    assert!(
        store
            .confirm_local_account("ada@example.com")
            .await
            .unwrap()
    );
    assert!(
        store
            .set_local_password("ada@example.com", "new")
            .await
            .unwrap()
    );
    let found = store
        .find_local_account("ada@example.com")
        .await
        .unwrap()
        .unwrap();
    assert!(found.confirmed);
    assert_eq!(found.password_hash, "new");
    assert!(
        !store
            .confirm_local_account("bob@example.com")
            .await
            .unwrap()
    );
    assert!(
        !store
            .set_local_password("bob@example.com", "x")
            .await
            .unwrap()
    );
}
