//! Revocation retention when the access-token lifetime is lowered.

use serde_json::json;
use sqlx::Connection;

use super::common::*;
use super::{assert_all_refused, now, with};

#[tokio::test]
async fn lowering_the_access_ttl_does_not_readmit_a_revoked_long_lived_token() {
    let long_ttl = Options::default().toml("[tokens]\naccess_ttl = \"1h\"");
    let gw = TestGateway::start_with(long_ttl).await;
    let login = gw.login_anon().await;
    gw.echo("/data/before", &login.access_token).await;
    assert_eq!(gw.logout(&login.refresh_token).await.status(), 204);
    assert_eq!(
        gw.get_upstream("/data/x", &login.access_token)
            .await
            .status(),
        401
    );
    let kid = jwt_kid(&login.access_token);
    let claims = jwt_payload(&login.access_token);

    // The logout happened 50 minutes ago (rather than sleeping): backdate its record.
    let dir = gw.stop_keeping_dir().await;
    let db = dir.path().join("sessiongate.db");
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display()))
        .await
        .expect("open the gateway's SQLite file");
    let backdated = sqlx::query("UPDATE revocations SET revoked_at = revoked_at - 3000")
        .execute(&mut conn)
        .await
        .expect("backdate the revocation")
        .rows_affected();
    assert_eq!(backdated, 1);
    conn.close().await.expect("close");

    // Incident response: restart with a short TTL. Retention under the old rule was
    // 60 s + 60 s after the revocation, long passed.
    let gw = TestGateway::start_in(
        dir,
        Options::default().toml("[tokens]\naccess_ttl = \"1m\""),
    )
    .await;
    let t = now();
    let minted_before_logout = forge_hs256(
        &with(&claims, json!({"iat": t - 3010, "exp": t - 3010 + 3600})),
        &kid,
        SIGNING_SECRET.as_bytes(),
    );
    assert_all_refused(
        &gw,
        &[
            (
                "minted under the 1 h TTL before logout",
                minted_before_logout,
            ),
            ("the token the login returned", login.access_token.clone()),
        ],
    )
    .await;
    // Control: a fresh login under the short TTL works.
    let fresh = gw.login_anon().await;
    gw.echo("/data/after", &fresh.access_token).await;
}
