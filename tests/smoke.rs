mod common;
use common::*;

#[tokio::test]
async fn anonymous_login_reaches_the_upstream_with_identity() {
    let gw = TestGateway::start().await;
    let login = gw.login_anon().await;
    let seen = gw.echo("/data/x", &login.access_token).await;
    assert_eq!(seen["headers"]["x-user-id"], login.user_id.as_str());
}
