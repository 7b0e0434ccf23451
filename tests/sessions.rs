//! Session management (SPEC §5) and the admin API's user, session, grant and refresh-TTL routes
//! (SPEC §6), against a gateway on port 0 (issue #4).
//!
//! Every sign-out test first warms each access token with one proxied request, so the token
//! sits in the verified-token cache, then checks the very next proxied request per token: the
//! ended sessions' tokens are refused, every other token still passes. Store rows are read and
//! moved back in time through the gateway's own SQLite file instead of sleeping.

mod common;

use std::collections::BTreeSet;

use base64::Engine;
use common::*;
use reqwest::Method;
use serde_json::{Value, json};
use sqlx::{Connection, SqliteConnection};

const PASSWORD: &str = "Pa55w0rd!";

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64
}

/// The session id (`sid` claim) of an access token.
fn sid(access_token: &str) -> String {
    jwt_payload(access_token)["sid"]
        .as_str()
        .expect("sid claim")
        .to_owned()
}

/// Logs in with email/password, sending `agent` as the `User-Agent`.
async fn login_with_agent(gw: &TestGateway, email: &str, agent: &str) -> Login {
    let response = gw
        .http
        .post(gw.app_api("/auth/providers/local-userpass/login"))
        .header("User-Agent", agent)
        .json(&json!({ "username": email, "password": PASSWORD }))
        .send()
        .await
        .expect("login request");
    assert_eq!(response.status(), 200, "login {email}");
    response.json().await.expect("login json")
}

/// Registers `email` and logs it in `count` times, each with its own user agent.
async fn user_with_sessions(gw: &TestGateway, email: &str, count: usize) -> Vec<Login> {
    gw.register(email, PASSWORD).await;
    let mut logins = Vec::new();
    for n in 0..count {
        logins.push(login_with_agent(gw, email, &format!("agent-{n}/1.0")).await);
    }
    logins
}

/// A request to the client API's `/auth/sessions…` with a Bearer access token.
fn sessions_request(
    gw: &TestGateway,
    method: Method,
    path: &str,
    token: &str,
) -> reqwest::RequestBuilder {
    gw.http
        .request(method, gw.client_api(&format!("/auth/sessions{path}")))
        .bearer_auth(token)
}

/// `GET /auth/sessions`: the raw body text and the session list.
async fn list_sessions(gw: &TestGateway, token: &str) -> (String, Vec<Value>) {
    let response = sessions_request(gw, Method::GET, "", token)
        .send()
        .await
        .expect("list request");
    assert_eq!(response.status(), 200, "GET /auth/sessions");
    let text = response.text().await.expect("list body");
    let body: Value = serde_json::from_str(&text).expect("list is JSON");
    let sessions = body["sessions"].as_array().expect("sessions array").clone();
    (text, sessions)
}

fn ids_of(sessions: &[Value]) -> BTreeSet<String> {
    sessions
        .iter()
        .map(|s| s["id"].as_str().expect("session id").to_owned())
        .collect()
}

fn find<'a>(sessions: &'a [Value], id: &str) -> &'a Value {
    sessions
        .iter()
        .find(|s| s["id"] == id)
        .unwrap_or_else(|| panic!("session {id} in {sessions:?}"))
}

/// A sign-out answer: 204 with no body.
async fn assert_no_content(response: reqwest::Response) {
    assert_eq!(response.status(), 204, "status");
    let bytes = response.bytes().await.expect("body");
    assert!(bytes.is_empty(), "{bytes:?}");
}

/// The next proxied request with the login's access token passes, as that user.
async fn assert_access_works(gw: &TestGateway, login: &Login) {
    let seen = gw.echo("/data/next", &login.access_token).await;
    assert_eq!(seen["headers"]["x-user-id"], login.user_id.as_str());
    assert_eq!(
        seen["headers"]["x-session-id"],
        sid(&login.access_token).as_str()
    );
}

/// The next proxied request with the login's access token is refused.
async fn assert_access_refused(gw: &TestGateway, login: &Login) {
    let response = gw.get_upstream("/data/next", &login.access_token).await;
    assert_error(response, 401, "InvalidSession").await;
}

/// Warms every access token: verified once and cached by a proxied request.
async fn warm(gw: &TestGateway, logins: &[&Login]) {
    for login in logins {
        assert_access_works(gw, login).await;
    }
}

/// The gateway's SQLite file, opened beside the gateway.
async fn open_db(gw: &TestGateway) -> SqliteConnection {
    SqliteConnection::connect(&format!("sqlite://{}", gw.db_path().display()))
        .await
        .expect("open the gateway's SQLite file")
}

async fn admin_json(response: reqwest::Response, status: u16) -> Value {
    assert_eq!(response.status(), status, "status");
    response.json().await.expect("admin answer is JSON")
}

async fn admin_create_user(gw: &TestGateway, email: &str) -> Value {
    let response = gw
        .admin(Method::POST, "/users")
        .json(&json!({ "email": email, "password": PASSWORD }))
        .send()
        .await
        .expect("create user request");
    admin_json(response, 201).await
}

async fn admin_list_users(gw: &TestGateway, query: &str) -> reqwest::Response {
    gw.admin(Method::GET, &format!("/users{query}"))
        .send()
        .await
        .expect("list users request")
}

async fn admin_user_sessions(gw: &TestGateway, user_id: &str) -> Vec<Value> {
    let response = gw
        .admin(Method::GET, &format!("/users/{user_id}/sessions"))
        .send()
        .await
        .expect("admin sessions request");
    admin_json(response, 200)
        .await
        .as_array()
        .expect("array of sessions")
        .clone()
}

async fn mint_grant(gw: &TestGateway, user_id: &str, body: Value) -> reqwest::Response {
    gw.admin(Method::POST, &format!("/users/{user_id}/grants"))
        .json(&body)
        .send()
        .await
        .expect("mint grant request")
}

async fn exchange_grant(gw: &TestGateway, body: Value) -> reqwest::Response {
    gw.http
        .post(gw.app_api("/auth/providers/grant/login"))
        .json(&body)
        .send()
        .await
        .expect("grant exchange request")
}

const UNKNOWN_USER: &str = "0123456789abcdef01234567";

// ---------------------------------------------------------------------------------------------
// GET /auth/sessions

#[tokio::test]
async fn list_shows_each_live_session_once_marks_the_current_one_and_never_a_token() {
    let gw = TestGateway::start().await;
    let logins = user_with_sessions(&gw, "alice@example.com", 3).await;
    let caller = &logins[1];

    let (text, sessions) = list_sessions(&gw, &caller.access_token).await;
    assert_eq!(sessions.len(), 3, "{text}");
    let expected: BTreeSet<String> = logins.iter().map(|l| sid(&l.access_token)).collect();
    assert_eq!(ids_of(&sessions), expected);
    let current: Vec<&Value> = sessions.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1, "{text}");
    assert_eq!(current[0]["id"], sid(&caller.access_token).as_str());
    assert!(sessions.iter().all(|s| s["current"].is_boolean()), "{text}");

    for (n, login) in logins.iter().enumerate() {
        let session = find(&sessions, &sid(&login.access_token));
        assert_eq!(session["user_id"], login.user_id.as_str());
        assert_eq!(session["device_id"], login.device_id.as_str());
        assert_eq!(session["provider_type"], "local-userpass");
        assert_eq!(session["user_agent_raw"], format!("agent-{n}/1.0"));
        assert_eq!(session["client_ip"], "127.0.0.1");
        assert!(session["revoked_at"].is_null(), "{session}");
        let created = session["created_at"].as_i64().expect("created_at");
        let expires = session["expires_at"].as_i64().expect("expires_at");
        assert!(expires > created, "{session}");
    }
    // Newest first.
    let created: Vec<i64> = sessions
        .iter()
        .map(|s| s["created_at"].as_i64().unwrap())
        .collect();
    assert!(created.windows(2).all(|w| w[0] >= w[1]), "{created:?}");

    // No token of any session, in any field.
    for login in &logins {
        for token in [&login.access_token, &login.refresh_token] {
            assert!(!text.contains(token.as_str()), "a token leaked: {text}");
        }
    }
    for session in &sessions {
        for key in session.as_object().unwrap().keys() {
            assert!(
                !key.contains("token") && !key.contains("hash"),
                "field {key} in {session}"
            );
        }
    }

    // The `Session` header works as well as Bearer.
    let response = gw
        .http
        .get(gw.client_api("/auth/sessions"))
        .header("Session", &logins[2].access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let sessions = body["sessions"].as_array().unwrap();
    assert_eq!(ids_of(sessions), expected);
    let current: Vec<&Value> = sessions.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0]["id"], sid(&logins[2].access_token).as_str());

    // A revoked session is no longer listed.
    assert_no_content(gw.logout(&logins[0].refresh_token).await).await;
    let (text, sessions) = list_sessions(&gw, &caller.access_token).await;
    assert_eq!(sessions.len(), 2, "{text}");
    assert!(!ids_of(&sessions).contains(&sid(&logins[0].access_token)));
}

#[tokio::test]
async fn anonymous_sessions_are_listed_without_expiry() {
    let gw = TestGateway::start().await;
    let login = gw.login_anon().await;
    let (_, sessions) = list_sessions(&gw, &login.access_token).await;
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0]["id"], sid(&login.access_token).as_str());
    assert_eq!(sessions[0]["provider_type"], "anon-user");
    assert!(sessions[0]["expires_at"].is_null(), "{}", sessions[0]);
}

// ---------------------------------------------------------------------------------------------
// other users' sessions

#[tokio::test]
async fn a_user_can_neither_see_nor_end_another_users_session() {
    let gw = TestGateway::start().await;
    let alice = &user_with_sessions(&gw, "alice@example.com", 1).await[0];
    let bob = &user_with_sessions(&gw, "bob@example.com", 1).await[0];
    warm(&gw, &[alice, bob]).await;
    let bob_sid = sid(&bob.access_token);

    // The same answer as for a session that never existed: not found, never forbidden.
    let response = sessions_request(
        &gw,
        Method::GET,
        &format!("/{bob_sid}"),
        &alice.access_token,
    )
    .send()
    .await
    .unwrap();
    let foreign = assert_error(response, 404, "NotFound").await;
    let response = sessions_request(
        &gw,
        Method::GET,
        "/0123456789abcdef01234567",
        &alice.access_token,
    )
    .send()
    .await
    .unwrap();
    let missing = assert_error(response, 404, "NotFound").await;
    assert_eq!(foreign, missing);

    let response = sessions_request(
        &gw,
        Method::DELETE,
        &format!("/{bob_sid}"),
        &alice.access_token,
    )
    .send()
    .await
    .unwrap();
    assert_error(response, 404, "NotFound").await;

    // Bob's session is untouched.
    assert_access_works(&gw, bob).await;
    assert_eq!(gw.refresh(&bob.refresh_token).await.status(), 201);
    let (_, bobs) = list_sessions(&gw, &bob.access_token).await;
    assert_eq!(ids_of(&bobs), BTreeSet::from([bob_sid.clone()]));

    // Alice's list has only Alice's session.
    let (text, alices) = list_sessions(&gw, &alice.access_token).await;
    assert_eq!(
        ids_of(&alices),
        BTreeSet::from([sid(&alice.access_token)]),
        "{text}"
    );
    assert!(!text.contains(&bob_sid), "{text}");
    assert!(!text.contains(&bob.user_id), "{text}");

    // Signing out "all" or "others" as Alice leaves Bob alone too.
    assert_no_content(
        sessions_request(&gw, Method::DELETE, "/others", &alice.access_token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_no_content(
        sessions_request(&gw, Method::DELETE, "", &alice.access_token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_access_refused(&gw, alice).await;
    assert_access_works(&gw, bob).await;
}

// ---------------------------------------------------------------------------------------------
// sign-out kinds

#[derive(Clone, Copy, Debug)]
enum SignOut {
    Current,
    OneById,
    Others,
    All,
}

/// One user with three sessions (the caller is the first) and a bystander of another user,
/// all four tokens cached; signs out as the caller and checks which tokens still work.
async fn sign_out_kills_exactly(kind: SignOut, killed: [bool; 3]) {
    let gw = TestGateway::start().await;
    let mine = user_with_sessions(&gw, "carol@example.com", 3).await;
    let bystander = gw.login_anon().await;
    warm(&gw, &[&mine[0], &mine[1], &mine[2], &bystander]).await;
    let checks_after_warming = gw.signature_checks();

    let (method, path) = match kind {
        SignOut::Current => (Method::DELETE, "/current".to_owned()),
        SignOut::OneById => (Method::DELETE, format!("/{}", sid(&mine[1].access_token))),
        SignOut::Others => (Method::DELETE, "/others".to_owned()),
        SignOut::All => (Method::DELETE, String::new()),
    };
    let response = sessions_request(&gw, method, &path, &mine[0].access_token)
        .send()
        .await
        .unwrap();
    assert_no_content(response).await;

    // The very next proxied request per token.
    for (login, killed) in mine.iter().zip(killed) {
        if killed {
            assert_access_refused(&gw, login).await;
        } else {
            assert_access_works(&gw, login).await;
        }
    }
    assert_access_works(&gw, &bystander).await;
    // Every token was answered from the cache: the revocation beat it, not a re-verification.
    assert_eq!(gw.signature_checks(), checks_after_warming, "{kind:?}");

    for (login, killed) in mine.iter().zip(killed) {
        let response = gw.refresh(&login.refresh_token).await;
        if killed {
            assert_error(response, 401, "InvalidSession").await;
        } else {
            assert_eq!(response.status(), 201, "{kind:?}: survivor's refresh");
        }
    }
    assert_eq!(gw.refresh(&bystander.refresh_token).await.status(), 201);

    // A survivor's list shows exactly the survivors.
    if let Some(survivor) = mine.iter().zip(killed).find(|(_, k)| !k).map(|(l, _)| l) {
        let (_, sessions) = list_sessions(&gw, &survivor.access_token).await;
        let expected: BTreeSet<String> = mine
            .iter()
            .zip(killed)
            .filter(|(_, k)| !k)
            .map(|(l, _)| sid(&l.access_token))
            .collect();
        assert_eq!(ids_of(&sessions), expected, "{kind:?}");
    }
}

#[tokio::test]
async fn signing_out_the_current_session_kills_only_the_callers_tokens() {
    sign_out_kills_exactly(SignOut::Current, [true, false, false]).await;
}

#[tokio::test]
async fn signing_out_one_session_by_id_kills_only_that_session() {
    sign_out_kills_exactly(SignOut::OneById, [false, true, false]).await;
}

#[tokio::test]
async fn signing_out_others_kills_every_session_but_the_callers() {
    sign_out_kills_exactly(SignOut::Others, [false, true, true]).await;
}

#[tokio::test]
async fn signing_out_all_kills_every_session_of_the_user() {
    sign_out_kills_exactly(SignOut::All, [true, true, true]).await;
}

#[tokio::test]
async fn a_refreshed_access_token_dies_with_its_session() {
    let gw = TestGateway::start().await;
    let mine = user_with_sessions(&gw, "erin@example.com", 2).await;
    let response = gw.refresh(&mine[0].refresh_token).await;
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    let refreshed = Login {
        access_token: body["access_token"].as_str().unwrap().to_owned(),
        ..mine[0].clone()
    };
    warm(&gw, &[&mine[0], &refreshed, &mine[1]]).await;

    let response = sessions_request(
        &gw,
        Method::DELETE,
        &format!("/{}", sid(&mine[0].access_token)),
        &mine[1].access_token,
    )
    .send()
    .await
    .unwrap();
    assert_no_content(response).await;

    assert_access_refused(&gw, &mine[0]).await;
    assert_access_refused(&gw, &refreshed).await;
    assert_access_works(&gw, &mine[1]).await;

    // Signing out a session that is already gone is 404 for GET and harmless for DELETE.
    let path = format!("/{}", sid(&mine[0].access_token));
    let response = sessions_request(&gw, Method::GET, &path, &mine[1].access_token)
        .send()
        .await
        .unwrap();
    assert_error(response, 404, "NotFound").await;
    let response = sessions_request(&gw, Method::DELETE, &path, &mine[1].access_token)
        .send()
        .await
        .unwrap();
    assert_no_content(response).await;
    assert_access_works(&gw, &mine[1]).await;
}

// ---------------------------------------------------------------------------------------------
// current session, current user, routing

#[tokio::test]
async fn current_session_and_current_user_describe_the_caller() {
    let gw = TestGateway::start().await;
    let logins = user_with_sessions(&gw, "Dana@Example.com", 2).await;
    let caller = &logins[1];

    let response = sessions_request(&gw, Method::GET, "/current", &caller.access_token)
        .send()
        .await
        .unwrap();
    let session = admin_json(response, 200).await;
    assert_eq!(session["id"], sid(&caller.access_token).as_str());
    assert_eq!(session["current"], true);
    assert_eq!(session["user_id"], caller.user_id.as_str());
    assert_eq!(session["user_agent_raw"], "agent-1/1.0");

    // The other session by id: same user, not current.
    let other = sid(&logins[0].access_token);
    let response = sessions_request(&gw, Method::GET, &format!("/{other}"), &caller.access_token)
        .send()
        .await
        .unwrap();
    let session = admin_json(response, 200).await;
    assert_eq!(session["id"], other.as_str());
    assert_eq!(session["current"], false);

    let response = sessions_request(&gw, Method::GET, "/current/user", &caller.access_token)
        .header("Session", &caller.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    let user: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(user["_id"], caller.user_id.as_str());
    assert_eq!(user["data"]["email"], "dana@example.com");
    assert_eq!(user["disabled"], false);
    let identities = user["identities"].as_array().expect("identities");
    assert_eq!(identities.len(), 1, "{user}");
    assert_eq!(identities[0]["provider_type"], "local-userpass");
    assert!(!text.contains("argon2"), "a password hash leaked: {text}");
    assert!(!text.contains(&caller.refresh_token), "{text}");
}

#[tokio::test]
async fn session_routes_answer_405_for_wrong_methods_and_404_for_unknown_paths() {
    let gw = TestGateway::start().await;
    let login = gw.login_anon().await;
    let id = sid(&login.access_token);
    for (method, path) in [
        (Method::POST, String::new()),
        (Method::PUT, String::new()),
        (Method::POST, "/others".to_owned()),
        (Method::POST, "/current".to_owned()),
        (Method::PUT, "/current".to_owned()),
        (Method::POST, "/current/user".to_owned()),
        (Method::DELETE, "/current/user".to_owned()),
        (Method::PATCH, format!("/{id}")),
        (Method::POST, format!("/{id}")),
    ] {
        let response = sessions_request(&gw, method.clone(), &path, &login.access_token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 405, "{method} /auth/sessions{path}");
        assert_error(response, 405, "MethodNotAllowed").await;
    }
    for path in [
        "/current/user/x",
        "/current/x",
        &format!("/{id}/x"),
        "/a/b/c",
    ] {
        let response = sessions_request(&gw, Method::GET, path, &login.access_token)
            .send()
            .await
            .unwrap();
        assert_error(response, 404, "NotFound").await;
    }
    // None of that ended the session.
    assert_access_works(&gw, &login).await;
}

#[tokio::test]
async fn get_on_sessions_others_is_405_like_every_other_wrong_method_there() {
    // `others` is a keyword of the route table (`DELETE /auth/sessions/others` only), not a
    // session id: a GET on it is a wrong method, as POST or PUT on it are.
    let gw = TestGateway::start().await;
    let login = gw.login_anon().await;
    for method in [Method::POST, Method::PUT, Method::GET] {
        let response = sessions_request(&gw, method.clone(), "/others", &login.access_token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 405, "{method} /auth/sessions/others");
        assert_eq!(response.headers()["allow"], "DELETE");
        assert_error(response, 405, "MethodNotAllowed").await;
    }
}

#[tokio::test]
async fn session_routes_without_a_valid_access_token_are_invalid_session() {
    let gw = TestGateway::start().await;
    let login = gw.login_anon().await;
    for (method, path) in [
        (Method::GET, ""),
        (Method::DELETE, ""),
        (Method::DELETE, "/others"),
        (Method::GET, "/current"),
        (Method::DELETE, "/current"),
        (Method::GET, "/current/user"),
    ] {
        let url = gw.client_api(&format!("/auth/sessions{path}"));
        let response = gw.http.request(method.clone(), &url).send().await.unwrap();
        assert_error(response, 401, "InvalidSession").await;
        // A refresh token is not an access token.
        let response = gw
            .http
            .request(method.clone(), &url)
            .bearer_auth(&login.refresh_token)
            .send()
            .await
            .unwrap();
        assert_error(response, 401, "InvalidSession").await;
    }
    // None of those requests signed anything out.
    assert_access_works(&gw, &login).await;
    assert_eq!(gw.refresh(&login.refresh_token).await.status(), 201);
}

// ---------------------------------------------------------------------------------------------
// DELETE /auth/delete

#[tokio::test]
async fn deleting_oneself_kills_every_cached_token_and_removes_the_user() {
    let gw = TestGateway::start().await;
    let mine = user_with_sessions(&gw, "frank@example.com", 2).await;
    let other = gw.login_anon().await;
    warm(&gw, &[&mine[0], &mine[1], &other]).await;

    let response = gw
        .http
        .delete(gw.client_api("/auth/delete"))
        .bearer_auth(&mine[0].access_token)
        .send()
        .await
        .unwrap();
    assert_no_content(response).await;

    for login in &mine {
        assert_access_refused(&gw, login).await;
        assert_error(
            gw.refresh(&login.refresh_token).await,
            401,
            "InvalidSession",
        )
        .await;
    }
    let response = gw
        .admin(Method::GET, &format!("/users/{}", mine[0].user_id))
        .send()
        .await
        .unwrap();
    assert_error(response, 404, "UserNotFound").await;
    // The account is gone with the user.
    let response = gw.login_userpass_raw("frank@example.com", PASSWORD).await;
    assert_error(response, 401, "InvalidPassword").await;
    // Deleting again with the dead token is refused, not a 500.
    let response = gw
        .http
        .delete(gw.client_api("/auth/delete"))
        .bearer_auth(&mine[1].access_token)
        .send()
        .await
        .unwrap();
    assert_error(response, 401, "InvalidSession").await;

    // Another user is unaffected.
    assert_access_works(&gw, &other).await;
    assert_eq!(gw.refresh(&other.refresh_token).await.status(), 201);
    let response = gw
        .admin(Method::GET, &format!("/users/{}", other.user_id))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn delete_user_route_needs_an_access_token_and_delete() {
    let gw = TestGateway::start().await;
    let login = gw.login_anon().await;
    let response = gw
        .http
        .delete(gw.client_api("/auth/delete"))
        .send()
        .await
        .unwrap();
    assert_error(response, 401, "InvalidSession").await;
    let response = gw
        .http
        .delete(gw.client_api("/auth/delete"))
        .bearer_auth(&login.refresh_token)
        .send()
        .await
        .unwrap();
    assert_error(response, 401, "InvalidSession").await;
    let response = gw
        .http
        .get(gw.client_api("/auth/delete"))
        .bearer_auth(&login.access_token)
        .send()
        .await
        .unwrap();
    assert_error(response, 405, "MethodNotAllowed").await;
    assert_access_works(&gw, &login).await;
}

// ---------------------------------------------------------------------------------------------
// one-time grants

#[tokio::test]
async fn a_grant_is_exchanged_once_for_a_new_session_of_its_user() {
    let gw = TestGateway::start().await;
    let first = &user_with_sessions(&gw, "grace@example.com", 1).await[0];

    let minted_at = now();
    let response = mint_grant(&gw, &first.user_id, json!({ "ttl_seconds": 60 })).await;
    let grant = admin_json(response, 201).await;
    let token = grant["token"].as_str().expect("grant token").to_owned();
    assert!(token.len() >= 40, "256 random bits: {token}");
    assert_eq!(grant["user_id"], first.user_id.as_str());
    let expires_at = grant["expires_at"].as_i64().expect("expires_at");
    assert!(
        (minted_at + 55..=now() + 60).contains(&expires_at),
        "{expires_at} vs {minted_at}"
    );

    let response = exchange_grant(&gw, json!({ "token": token })).await;
    let login: Login =
        serde_json::from_value(admin_json(response, 200).await).expect("login answer");
    assert_eq!(login.user_id, first.user_id);
    assert_ne!(sid(&login.access_token), sid(&first.access_token));
    assert_access_works(&gw, &login).await;
    assert_eq!(gw.refresh(&login.refresh_token).await.status(), 201);

    // The new session is one of the user's sessions.
    let (_, sessions) = list_sessions(&gw, &first.access_token).await;
    assert_eq!(
        ids_of(&sessions),
        BTreeSet::from([sid(&first.access_token), sid(&login.access_token)])
    );
    assert_eq!(
        find(&sessions, &sid(&login.access_token))["provider_type"],
        "grant"
    );

    // Single use.
    let response = exchange_grant(&gw, json!({ "token": token })).await;
    assert_error(response, 401, "InvalidSession").await;
    // Garbage, or no token at all.
    let response = exchange_grant(&gw, json!({ "token": "not-a-grant" })).await;
    assert_error(response, 401, "InvalidSession").await;
    let response = exchange_grant(&gw, json!({})).await;
    assert_error(response, 400, "BadRequest").await;
}

#[tokio::test]
async fn grants_are_refused_for_unknown_or_disabled_users_and_bad_lifetimes() {
    let gw = TestGateway::start().await;
    let user = gw.login_anon().await;

    let response = mint_grant(&gw, UNKNOWN_USER, json!({ "ttl_seconds": 60 })).await;
    assert_error(response, 404, "UserNotFound").await;
    for ttl in [json!(0), json!(86_401), json!(-1), json!("60"), json!(60.5)] {
        let response = mint_grant(&gw, &user.user_id, json!({ "ttl_seconds": ttl })).await;
        assert_eq!(response.status(), 400, "ttl_seconds {ttl}");
    }
    let response = mint_grant(&gw, &user.user_id, json!({ "ttl_seconds": 86_400 })).await;
    assert_eq!(response.status(), 201, "the longest lifetime is allowed");
    // A whole number written with a zero fraction is that number (JSON Schema's integer).
    let response = mint_grant(&gw, &user.user_id, json!({ "ttl_seconds": 60.0 })).await;
    let grant = admin_json(response, 201).await;
    assert!(
        grant["expires_at"].as_i64().unwrap() - now() <= 60,
        "{grant}"
    );
    // No ttl: the default lifetime.
    let response = mint_grant(&gw, &user.user_id, json!({})).await;
    let pending = admin_json(response, 201).await;

    // A grant minted before the user was disabled cannot be exchanged afterwards.
    let response = gw
        .admin(Method::PUT, &format!("/users/{}/disable", user.user_id))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let response = exchange_grant(&gw, json!({ "token": pending["token"] })).await;
    assert_error(response, 401, "UserDisabled").await;
    // A disabled user gets no new grant.
    let response = mint_grant(&gw, &user.user_id, json!({ "ttl_seconds": 60 })).await;
    assert_error(response, 409, "UserDisabled").await;
}

#[tokio::test]
async fn a_grant_is_stored_only_as_a_digest() {
    let gw = TestGateway::start().await;
    let user = gw.login_anon().await;
    let response = mint_grant(&gw, &user.user_id, json!({ "ttl_seconds": 600 })).await;
    let grant = admin_json(response, 201).await;
    let token = grant["token"].as_str().unwrap().to_owned();
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(&token)
        .expect("grant token is base64url");
    let needles: Vec<Vec<u8>> = vec![
        token.as_bytes().to_vec(),
        raw.clone(),
        hex::encode(&raw).into_bytes(),
    ];

    let mut db = open_db(&gw).await;
    // The grant is there, as its digest.
    let stored: Vec<Vec<u8>> = sqlx::query_scalar("SELECT grant_hash FROM grants")
        .fetch_all(&mut db)
        .await
        .unwrap();
    assert_eq!(
        stored,
        vec![sessiongate::tokens::refresh::hash(&token)],
        "one grant, stored as its SHA-256 digest"
    );

    let tables: Vec<String> =
        sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table'")
            .fetch_all(&mut db)
            .await
            .unwrap();
    assert!(tables.iter().any(|t| t == "grants"), "{tables:?}");
    let mut searched = 0;
    for table in &tables {
        let columns: Vec<String> =
            sqlx::query_scalar(&format!("SELECT name FROM pragma_table_info('{table}')"))
                .fetch_all(&mut db)
                .await
                .unwrap();
        for column in columns {
            let values: Vec<Option<Vec<u8>>> = sqlx::query_scalar(&format!(
                "SELECT CAST(\"{column}\" AS BLOB) FROM \"{table}\""
            ))
            .fetch_all(&mut db)
            .await
            .unwrap();
            for value in values.into_iter().flatten() {
                searched += 1;
                for needle in &needles {
                    assert!(
                        !value.windows(needle.len()).any(|w| w == needle.as_slice()),
                        "the grant is stored in clear in {table}.{column}"
                    );
                }
            }
        }
    }
    assert!(searched > 10, "searched {searched} values");

    // The raw files too (WAL included).
    for entry in std::fs::read_dir(gw.dir.path()).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        for needle in &needles {
            assert!(!bytes.windows(needle.len()).any(|w| w == needle.as_slice()));
        }
    }

    // Exchanging it deletes the row.
    let response = exchange_grant(&gw, json!({ "token": token })).await;
    assert_eq!(response.status(), 200);
    let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM grants")
        .fetch_one(&mut db)
        .await
        .unwrap();
    assert_eq!(left, 0);
}

// ---------------------------------------------------------------------------------------------
// admin: users

#[tokio::test]
async fn admin_creates_a_local_user_who_can_log_in_once_per_email() {
    let gw = TestGateway::start().await;
    let user = admin_create_user(&gw, "Heidi@Example.com").await;
    let user_id = user["_id"].as_str().expect("_id").to_owned();
    assert_eq!(user["data"]["email"], "heidi@example.com");
    assert_eq!(user["disabled"], false);
    let identities = user["identities"].as_array().expect("identities");
    assert_eq!(identities.len(), 1, "{user}");
    assert_eq!(identities[0]["provider_type"], "local-userpass");

    let login = gw.login_userpass("heidi@example.com", PASSWORD).await;
    assert_eq!(login.user_id, user_id);
    assert_access_works(&gw, &login).await;

    let response = gw
        .admin(Method::POST, "/users")
        .json(&json!({ "email": " HEIDI@example.com ", "password": "An0therPass!" }))
        .send()
        .await
        .unwrap();
    assert_error(response, 409, "AccountNameInUse").await;
    // The first password still logs in; the duplicate changed nothing.
    gw.login_userpass("heidi@example.com", PASSWORD).await;

    let response = gw
        .admin(Method::POST, "/users")
        .json(&json!({ "email": "ivan@example.com" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400, "password is required");

    let response = gw
        .admin(Method::GET, &format!("/users/{user_id}"))
        .send()
        .await
        .unwrap();
    let fetched = admin_json(response, 200).await;
    assert_eq!(fetched["_id"], user_id.as_str());
    assert_eq!(fetched["data"]["email"], "heidi@example.com");
}

#[tokio::test]
async fn admin_user_list_pages_cover_every_user_once_and_filters_apply() {
    let gw = TestGateway::start().await;
    let mut anon = BTreeSet::new();
    for _ in 0..3 {
        anon.insert(gw.login_anon().await.user_id);
    }
    let mut local = BTreeSet::new();
    for email in ["judy@example.com", "karl@example.com"] {
        local.insert(
            admin_create_user(&gw, email).await["_id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let everyone: BTreeSet<String> = anon.union(&local).cloned().collect();

    let mut seen = Vec::new();
    let mut query = "?limit=2".to_owned();
    loop {
        let page = admin_json(admin_list_users(&gw, &query).await, 200).await;
        let page = page.as_array().expect("array of users").clone();
        assert!(page.len() <= 2, "{page:?}");
        if page.is_empty() {
            break;
        }
        let ids: Vec<String> = page
            .iter()
            .map(|u| u["_id"].as_str().unwrap().to_owned())
            .collect();
        seen.extend(ids.iter().cloned());
        query = format!("?limit=2&after={}", ids.last().unwrap());
        assert!(
            seen.len() <= everyone.len(),
            "paging does not end: {seen:?}"
        );
    }
    assert_eq!(seen.len(), everyone.len(), "each user once: {seen:?}");
    assert_eq!(seen.iter().cloned().collect::<BTreeSet<_>>(), everyone);

    // Unpaged: every user.
    let all = admin_json(admin_list_users(&gw, "").await, 200).await;
    assert_eq!(all.as_array().unwrap().len(), everyone.len());

    let ids = |value: Value| -> BTreeSet<String> {
        value
            .as_array()
            .expect("array of users")
            .iter()
            .map(|u| u["_id"].as_str().unwrap().to_owned())
            .collect()
    };
    let by_provider =
        admin_json(admin_list_users(&gw, "?provider=local-userpass").await, 200).await;
    assert_eq!(ids(by_provider), local);
    let by_provider = admin_json(admin_list_users(&gw, "?provider=anon-user").await, 200).await;
    assert_eq!(ids(by_provider), anon);
    let by_email = admin_json(
        admin_list_users(&gw, "?email=KARL%40example.com").await,
        200,
    )
    .await;
    let karl = ids(by_email);
    assert_eq!(karl.len(), 1);
    assert!(local.contains(karl.iter().next().unwrap()));
    let nobody = admin_json(
        admin_list_users(&gw, "?email=nobody%40example.com").await,
        200,
    )
    .await;
    assert_eq!(ids(nobody), BTreeSet::new());

    for query in ["?limit=0", "?limit=5000", "?limit=-1", "?limit=lots"] {
        let response = admin_list_users(&gw, query).await;
        assert_error(response, 400, "InvalidParameter").await;
    }
}

#[tokio::test]
async fn disabling_a_user_refuses_login_and_cached_tokens_until_enabled() {
    let gw = TestGateway::start().await;
    let mine = user_with_sessions(&gw, "leo@example.com", 2).await;
    let other = gw.login_anon().await;
    warm(&gw, &[&mine[0], &mine[1], &other]).await;
    let user_id = mine[0].user_id.clone();

    let response = gw
        .admin(Method::PUT, &format!("/users/{user_id}/disable"))
        .send()
        .await
        .unwrap();
    assert_no_content(response).await;

    for login in &mine {
        assert_access_refused(&gw, login).await;
        assert_error(
            gw.refresh(&login.refresh_token).await,
            401,
            "InvalidSession",
        )
        .await;
    }
    assert_access_works(&gw, &other).await;
    // The right password on a disabled account: UserDisabled (Auth::login checks it after
    // the provider accepted the password).
    let response = gw.login_userpass_raw("leo@example.com", PASSWORD).await;
    assert_error(response, 401, "UserDisabled").await;
    let user = admin_json(
        gw.admin(Method::GET, &format!("/users/{user_id}"))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(user["disabled"], true);

    let response = gw
        .admin(Method::PUT, &format!("/users/{user_id}/enable"))
        .send()
        .await
        .unwrap();
    assert_no_content(response).await;
    let again = gw.login_userpass("leo@example.com", PASSWORD).await;
    assert_access_works(&gw, &again).await;
    // Enabling does not bring the revoked sessions back.
    for login in &mine {
        assert_access_refused(&gw, login).await;
        assert_error(
            gw.refresh(&login.refresh_token).await,
            401,
            "InvalidSession",
        )
        .await;
    }
}

#[tokio::test]
async fn admin_deleting_a_user_kills_its_cached_tokens_then_it_is_not_found() {
    let gw = TestGateway::start().await;
    let victim = gw.login_anon().await;
    let other = gw.login_anon().await;
    warm(&gw, &[&victim, &other]).await;

    let path = format!("/users/{}", victim.user_id);
    assert_no_content(gw.admin(Method::DELETE, &path).send().await.unwrap()).await;
    assert_access_refused(&gw, &victim).await;
    assert_error(
        gw.refresh(&victim.refresh_token).await,
        401,
        "InvalidSession",
    )
    .await;
    let response = gw.admin(Method::GET, &path).send().await.unwrap();
    assert_error(response, 404, "UserNotFound").await;
    let response = gw.admin(Method::DELETE, &path).send().await.unwrap();
    assert_error(response, 404, "UserNotFound").await;
    assert_access_works(&gw, &other).await;
}

#[tokio::test]
async fn every_admin_user_route_answers_404_json_for_an_unknown_user() {
    let gw = TestGateway::start().await;
    let bystander = gw.login_anon().await;
    let bystander_sid = sid(&bystander.access_token);
    for (method, path, body) in [
        (Method::GET, format!("/users/{UNKNOWN_USER}"), None),
        (Method::DELETE, format!("/users/{UNKNOWN_USER}"), None),
        (Method::PUT, format!("/users/{UNKNOWN_USER}/enable"), None),
        (Method::PUT, format!("/users/{UNKNOWN_USER}/disable"), None),
        (Method::PUT, format!("/users/{UNKNOWN_USER}/logout"), None),
        (Method::GET, format!("/users/{UNKNOWN_USER}/sessions"), None),
        (
            Method::POST,
            format!("/users/{UNKNOWN_USER}/grants"),
            Some(json!({ "ttl_seconds": 60 })),
        ),
    ] {
        let mut request = gw.admin(method.clone(), &path);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        assert_error(response, 404, "UserNotFound").await;
    }
    // Another user's real session under the unknown user: not found, and not revoked.
    let response = gw
        .admin(
            Method::DELETE,
            &format!("/users/{UNKNOWN_USER}/sessions/{bystander_sid}"),
        )
        .send()
        .await
        .unwrap();
    assert_error(response, 404, "NotFound").await;
    assert_access_works(&gw, &bystander).await;
}

// ---------------------------------------------------------------------------------------------
// admin: sessions

#[tokio::test]
async fn admin_lists_every_session_of_a_user_and_revokes_one() {
    let gw = TestGateway::start().await;
    let mine = user_with_sessions(&gw, "mallory@example.com", 3).await;
    let other = gw.login_anon().await;
    warm(&gw, &[&mine[0], &mine[1], &mine[2], &other]).await;
    let user_id = mine[0].user_id.clone();
    assert_no_content(gw.logout(&mine[0].refresh_token).await).await;

    let sessions = admin_user_sessions(&gw, &user_id).await;
    let expected: BTreeSet<String> = mine.iter().map(|l| sid(&l.access_token)).collect();
    assert_eq!(
        ids_of(&sessions),
        expected,
        "revoked sessions are listed too"
    );
    let revoked = find(&sessions, &sid(&mine[0].access_token));
    assert!(revoked["revoked_at"].as_i64().is_some(), "{revoked}");
    for login in &mine[1..] {
        let session = find(&sessions, &sid(&login.access_token));
        assert!(session["revoked_at"].is_null(), "{session}");
        assert!(session.get("current").is_none(), "{session}");
    }

    let path = format!("/users/{user_id}/sessions/{}", sid(&mine[1].access_token));
    assert_no_content(gw.admin(Method::DELETE, &path).send().await.unwrap()).await;
    assert_access_refused(&gw, &mine[1]).await;
    assert_error(
        gw.refresh(&mine[1].refresh_token).await,
        401,
        "InvalidSession",
    )
    .await;
    assert_access_works(&gw, &mine[2]).await;
    assert_access_works(&gw, &other).await;
    // Revoking it again changes nothing.
    assert_no_content(gw.admin(Method::DELETE, &path).send().await.unwrap()).await;

    let sessions = admin_user_sessions(&gw, &user_id).await;
    assert!(
        find(&sessions, &sid(&mine[1].access_token))["revoked_at"]
            .as_i64()
            .is_some()
    );
    assert!(find(&sessions, &sid(&mine[2].access_token))["revoked_at"].is_null());

    // Another user's session through this user's path: 404, and it keeps working.
    let path = format!("/users/{user_id}/sessions/{}", sid(&other.access_token));
    let response = gw.admin(Method::DELETE, &path).send().await.unwrap();
    assert_error(response, 404, "NotFound").await;
    assert_access_works(&gw, &other).await;
    assert!(!ids_of(&admin_user_sessions(&gw, &user_id).await).contains(&sid(&other.access_token)));
}

// ---------------------------------------------------------------------------------------------
// admin: refresh-token lifetime

async fn refresh_ttl(gw: &TestGateway) -> Value {
    let response = gw
        .admin(Method::GET, "/security/refresh_token_expiration")
        .send()
        .await
        .unwrap();
    admin_json(response, 200).await
}

async fn put_refresh_ttl(gw: &TestGateway, body: Value) -> reqwest::Response {
    gw.admin(Method::PUT, "/security/refresh_token_expiration")
        .json(&body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn refresh_token_expiration_set_by_the_admin_governs_sessions_created_afterwards() {
    let gw = TestGateway::start().await;
    assert_eq!(
        refresh_ttl(&gw).await,
        json!({ "expiration_time_seconds": 5_184_000 })
    );
    let before = &user_with_sessions(&gw, "niaj@example.com", 1).await[0];

    for seconds in [json!(1799), json!(15_552_001), json!(-1), json!(null)] {
        let response = put_refresh_ttl(&gw, json!({ "expiration_time_seconds": seconds })).await;
        assert_error(response, 400, "InvalidParameter").await;
    }
    let response = put_refresh_ttl(&gw, json!({ "expiration_time_seconds": 1800.5 })).await;
    assert_error(response, 400, "BadRequest").await;
    let response = put_refresh_ttl(&gw, json!({ "expiration_time_seconds": 15_552_000 })).await;
    assert_no_content(response).await;
    // A whole number written with a zero fraction is that number (JSON Schema's integer).
    let response = put_refresh_ttl(&gw, json!({ "expiration_time_seconds": 1800.0 })).await;
    assert_no_content(response).await;
    assert_eq!(
        refresh_ttl(&gw).await,
        json!({ "expiration_time_seconds": 1800 })
    );

    let after = login_with_agent(&gw, "niaj@example.com", "agent-after").await;
    let (_, sessions) = list_sessions(&gw, &after.access_token).await;
    let lifetime = |login: &Login| {
        let session = find(&sessions, &sid(&login.access_token));
        session["expires_at"].as_i64().expect("expires_at")
            - session["created_at"].as_i64().expect("created_at")
    };
    assert_eq!(lifetime(&after), 1800);
    assert_eq!(
        lifetime(before),
        5_184_000,
        "an older session keeps its expiry"
    );
    // Refreshing the older session does not shorten it either.
    assert_eq!(gw.refresh(&before.refresh_token).await.status(), 201);
    let (_, sessions) = list_sessions(&gw, &after.access_token).await;
    let session = find(&sessions, &sid(&before.access_token));
    assert_eq!(
        session["expires_at"].as_i64().unwrap() - session["created_at"].as_i64().unwrap(),
        5_184_000
    );
}

// ---------------------------------------------------------------------------------------------
// lifecycle and activity

#[tokio::test]
async fn lifecycle_deletes_old_anonymous_users_and_kills_their_cached_tokens() {
    // `tokens.anon_user_ttl` has no lower bound, so 1s is accepted.
    let gw =
        TestGateway::start_with(Options::default().env("SESSIONGATE_TOKENS__ANON_USER_TTL", "1s"))
            .await;
    let anon = gw.login_anon().await;
    let young = gw.login_anon().await;
    let local = &user_with_sessions(&gw, "olivia@example.com", 1).await[0];
    warm(&gw, &[&anon, &young, local]).await;

    // Age the anonymous user and the local one; the second anonymous user stays young.
    let mut db = open_db(&gw).await;
    for user_id in [&anon.user_id, &local.user_id] {
        let updated = sqlx::query("UPDATE users SET created_at = ? WHERE id = ?")
            .bind(now() - 3600)
            .bind(user_id)
            .execute(&mut db)
            .await
            .unwrap();
        assert_eq!(updated.rows_affected(), 1);
    }
    let young_at = now() + 3600;
    sqlx::query("UPDATE users SET created_at = ? WHERE id = ?")
        .bind(young_at)
        .bind(&young.user_id)
        .execute(&mut db)
        .await
        .unwrap();

    sessiongate::app::run_lifecycle(&gw.state).await;

    let response = gw
        .admin(Method::GET, &format!("/users/{}", anon.user_id))
        .send()
        .await
        .unwrap();
    assert_error(response, 404, "UserNotFound").await;
    assert_access_refused(&gw, &anon).await;
    assert_error(gw.refresh(&anon.refresh_token).await, 401, "InvalidSession").await;

    // Only anonymous users past the TTL go.
    for login in [&young, local] {
        let response = gw
            .admin(Method::GET, &format!("/users/{}", login.user_id))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{}", login.user_id);
        assert_access_works(&gw, login).await;
        assert_eq!(gw.refresh(&login.refresh_token).await.status(), 201);
    }
}

#[tokio::test]
async fn proxied_requests_advance_last_used_at_of_their_session_only() {
    let gw = TestGateway::start().await;
    let mine = user_with_sessions(&gw, "peggy@example.com", 2).await;
    let (used, idle) = (&mine[0], &mine[1]);
    let old = now() - 1000;
    let mut db = open_db(&gw).await;
    for login in &mine {
        let updated =
            sqlx::query("UPDATE sessions SET created_at = ?, last_used_at = ? WHERE id = ?")
                .bind(old)
                .bind(old)
                .bind(sid(&login.access_token))
                .execute(&mut db)
                .await
                .unwrap();
        assert_eq!(updated.rows_affected(), 1);
    }
    // Nothing was proxied yet: the list shows the moved-back times.
    let (_, sessions) = list_sessions(&gw, &idle.access_token).await;
    for session in &sessions {
        assert_eq!(session["last_used_at"], old, "{session}");
    }

    let started = now();
    gw.echo("/data/one", &used.access_token).await;
    gw.echo("/data/two", &used.access_token).await;
    gw.state
        .activity
        .flush(gw.state.auth.store().as_ref())
        .await
        .expect("activity flush");

    let (_, sessions) = list_sessions(&gw, &idle.access_token).await;
    let session = find(&sessions, &sid(&used.access_token));
    let last_used = session["last_used_at"].as_i64().expect("last_used_at");
    let created = session["created_at"].as_i64().expect("created_at");
    assert_eq!(created, old, "created_at does not move");
    assert!(last_used >= started, "{last_used} < {started}");
    assert!(last_used >= created);
    assert!(last_used <= now(), "{last_used} is in the future");
    // A session that was not used keeps its time; the list request itself is no activity.
    let idle_session = find(&sessions, &sid(&idle.access_token));
    assert_eq!(idle_session["last_used_at"], old, "{idle_session}");
}
