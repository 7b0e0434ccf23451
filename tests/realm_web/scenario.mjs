// Drives the official, unmodified `realm-web` SDK against a running sessiongate.
//
// Env: SESSIONGATE_URL (client listener, also the `hostname` the location endpoint
// returns), SESSIONGATE_APP_ID, SESSIONGATE_SIGNING_SECRET (HS256 key, UTF-8 bytes),
// SCENARIO (a key of `scenarios` below), optional SCENARIO_STEP_TIMEOUT_MS.
// Prints `ok <step>` per step; on the first failure prints `FAIL <step>: ...` to
// stderr and exits 1. Exits 0 when every step passed.
import assert from "node:assert/strict";
import { createHmac, randomUUID } from "node:crypto";
import * as Realm from "realm-web";

const env = (name) => {
  const value = process.env[name];
  if (!value) fail("setup", `missing env ${name}`);
  return value;
};

function fail(step, details) {
  process.stderr.write(`FAIL ${step}: ${details}\n`);
  process.exit(1);
}

const URL_ = env("SESSIONGATE_URL").replace(/\/+$/, "");
const APP_ID = env("SESSIONGATE_APP_ID");
const SECRET = env("SESSIONGATE_SIGNING_SECRET");
const STEP_TIMEOUT_MS = Number(process.env.SCENARIO_STEP_TIMEOUT_MS || 15000);
const API = `${URL_}/api/client/v2.0`;
const APP_API = `${API}/app/${APP_ID}`;

// ---------------------------------------------------------------- helpers

// Every request realm-web makes goes through this (App's documented `fetch`
// option), so steps can assert on what went over the wire, e.g. the
// 401 -> refresh -> retry sequence. realm-web itself is not modified.
const wire = [];
async function recordingFetch(url, init = {}) {
  const entry = { method: init.method || "GET", url: String(url), auth: init.headers?.Authorization };
  wire.push(entry);
  const response = await fetch(url, init);
  entry.status = response.status;
  return response;
}
const wirePaths = (from) => wire.slice(from).map((r) => `${r.method} ${new URL(r.url).pathname} ${r.status}`);

async function step(name, fn) {
  let timer;
  const timeout = new Promise((_, reject) => {
    // A gateway that keeps answering 401 InvalidSession after a refresh makes
    // realm-web retry forever; the timeout turns that into a failure.
    timer = setTimeout(() => reject(new Error(`timed out after ${STEP_TIMEOUT_MS} ms`)), STEP_TIMEOUT_MS);
  });
  try {
    await Promise.race([fn(), timeout]);
  } catch (err) {
    const extra = err?.statusCode ? ` [status=${err.statusCode} error_code=${err.errorCode}]` : "";
    const recent = wire.slice(-6).map((r) => `  ${r.method} ${r.url} -> ${r.status}`).join("\n");
    fail(name, `${err?.stack || err}${extra}\nlast requests:\n${recent}`);
  } finally {
    clearTimeout(timer);
  }
  console.log(`ok ${name}`);
}

const b64urlJson = (segment) => JSON.parse(Buffer.from(segment, "base64url").toString("utf8"));
const hs256 = (input) => createHmac("sha256", Buffer.from(SECRET, "utf8")).update(input).digest("base64url");

function decodeJwt(token) {
  assert.equal(typeof token, "string", "token is not a string");
  const parts = token.split(".");
  assert.equal(parts.length, 3, `not a 3-part JWT: ${token}`);
  return { header: b64urlJson(parts[0]), payload: b64urlJson(parts[1]), parts };
}

// Same header (kid, alg) and claims, but iat/exp in the past, validly re-signed:
// the gateway can only reject it for being expired.
function expiredCopy(token) {
  const { header, payload, parts } = decodeJwt(token);
  // Prove the secret is right, else a 401 would only mean "bad signature".
  assert.equal(header.alg, "HS256");
  assert.equal(hs256(`${parts[0]}.${parts[1]}`), parts[2], "SESSIONGATE_SIGNING_SECRET does not verify the access token");
  const now = Math.floor(Date.now() / 1000);
  const claims = { ...payload, iat: now - 3600, exp: now - 1800 };
  const signingInput = `${parts[0]}.${Buffer.from(JSON.stringify(claims)).toString("base64url")}`;
  return `${signingInput}.${hs256(signingInput)}`;
}

// Raw request outside realm-web; returns { status, json }.
async function raw(method, url, token) {
  const headers = token ? { Authorization: `Bearer ${token}` } : {};
  const response = await fetch(url, { method, headers });
  const text = await response.text();
  let json;
  try { json = JSON.parse(text); } catch { json = text; }
  return { status: response.status, json };
}

async function expectInvalidSession(method, url, token) {
  const { status, json } = await raw(method, url, token);
  assert.equal(status, 401, `${method} ${url}: expected 401, got ${status} ${JSON.stringify(json)}`);
  assert.equal(json?.error_code, "InvalidSession", `unexpected body ${JSON.stringify(json)}`);
}

const newApp = () => new Realm.App({ id: APP_ID, baseUrl: URL_, fetch: recordingFetch });

// ---------------------------------------------------------------- scenarios

async function core() {
  const app = newApp();
  const email = `rw-${randomUUID()}@example.com`;
  const password = "Pa55w0rd!";
  let user;

  await step("location", async () => {
    const { status, json } = await raw("GET", `${APP_API}/location`);
    assert.equal(status, 200);
    assert.equal(json.hostname, URL_, "location hostname must be the client URL");
    for (const key of ["deployment_model", "location", "ws_hostname"]) assert.ok(key in json, `missing ${key}`);
  });

  await step("anon-login", async () => {
    const anon = await app.logIn(Realm.Credentials.anonymous());
    // The first login made realm-web resolve the location itself, once.
    assert.equal(wirePaths(0)[0], `GET /api/client/v2.0/app/${APP_ID}/location 200`);
    assert.ok(typeof anon.id === "string" && anon.id.length > 0, "user.id");
    assert.equal(typeof anon.accessToken, "string");
    assert.equal(typeof anon.refreshToken, "string");
    assert.equal(anon.providerType, "anon-user");
  });

  await step("register", async () => {
    // Note: realm-web sends the current (anon) user's access token here too.
    await app.emailPasswordAuth.registerUser({ email, password });
  });

  await step("email-login", async () => {
    // Second login on this App: realm-web now sends options.device.deviceId
    // built from the device_id of the first login (must be an ObjectId hex).
    user = await app.logIn(Realm.Credentials.emailPassword(email, password));
    assert.equal(user.profile.email, email);
    assert.equal(user.providerType, "local-userpass");
    assert.equal(app.currentUser, user);
  });

  await step("profile", async () => {
    await user.refreshProfile();
    assert.equal(user.identities.length, 1, JSON.stringify(user.identities));
    assert.equal(user.identities[0].providerType, "local-userpass");
  });

  await step("refresh", async () => {
    await user.refreshAccessToken();
    // Tokens minted in the same second may be byte-identical, so only check shape/claims.
    const { payload } = decodeJwt(user.accessToken);
    assert.equal(payload.sub, user.id);
    assert.equal(payload.typ, "access");
  });

  await step("call-function", async () => {
    const result = await user.functions.callFunction("echo", 1, "two");
    assert.equal(result.path, `/api/client/v2.0/app/${APP_ID}/functions/call`);
    assert.equal(result.method, "POST");
    assert.equal(result.headers["x-user-id"], user.id);
    assert.equal(result.headers["x-user-provider"], "local-userpass");
    assert.ok(typeof result.headers["x-session-id"] === "string" && result.headers["x-session-id"].length > 0);
    // realm-web sends canonical EJSON: {"name":"echo","arguments":[{"$numberInt":"1"},"two"]}
    const body = JSON.parse(result.body);
    assert.equal(body.name, "echo");
    assert.deepEqual(Realm.BSON.EJSON.deserialize(body.arguments), [1, "two"]);
  });

  await step("expired-recovery", async () => {
    const expired = expiredCopy(user.accessToken);
    await expectInvalidSession("POST", `${APP_API}/functions/call`, expired);
    user.accessToken = expired; // public setter on realm-web's User (also updates its storage)
    const from = wire.length;
    const result = await user.functions.callFunction("echo");
    assert.equal(result.headers["x-user-id"], user.id);
    assert.notEqual(user.accessToken, expired, "realm-web still holds the expired token");
    decodeJwt(user.accessToken);
    // realm-web must have done: call (401) -> refresh (2xx) -> retried call (200).
    const fnPath = `/api/client/v2.0/app/${APP_ID}/functions/call`;
    assert.deepEqual(wirePaths(from), [
      `POST ${fnPath} 401`,
      `POST /api/client/v2.0/auth/session ${wire[from + 1]?.status}`,
      `POST ${fnPath} 200`,
    ]);
    assert.ok(wire[from + 1].status >= 200 && wire[from + 1].status < 300, "refresh not 2xx");
  });

  await step("logout", async () => {
    const refreshToken = user.refreshToken;
    await user.logOut();
    assert.equal(user.refreshToken, null);
    await expectInvalidSession("POST", `${API}/auth/session`, refreshToken);
  });
}

// Issue #3 providers through realm-web. Extra env: SESSIONGATE_HOOKS_URL (the Rust test's
// webhook server: tokens the gateway delivered are fetched from GET /next/<kind>/<email>,
// the reset/call decision is set with PUT /reset-answer), SESSIONGATE_JWT_SECRET and
// SESSIONGATE_JWT_AUDIENCE (the custom-token provider's HS256 key and audience).
async function providers() {
  const HOOKS = env("SESSIONGATE_HOOKS_URL").replace(/\/+$/, "");
  const JWT_SECRET = env("SESSIONGATE_JWT_SECRET");
  const JWT_AUDIENCE = env("SESSIONGATE_JWT_AUDIENCE");
  const app = newApp();
  const email = `rw-${randomUUID()}@example.com`;
  const passwords = ["Pa55w0rd!", "N3w-pa55word", "Th1rd-pa55word"];
  const refused = async (promise, status) => {
    let error;
    try { await promise; } catch (err) { error = err; }
    assert.ok(error, `expected a refusal with status ${status}`);
    assert.equal(error.statusCode, status, String(error));
    return error;
  };
  // The next token the gateway delivered to a webhook for `address` (waits for it).
  const nextToken = async (kind, address) => {
    const response = await fetch(`${HOOKS}/next/${kind}/${encodeURIComponent(address)}`);
    assert.equal(response.status, 200, `no ${kind} token for ${address}`);
    return response.json();
  };
  const setResetAnswer = async (answer) => {
    const response = await fetch(`${HOOKS}/reset-answer`, { method: "PUT", body: JSON.stringify(answer) });
    assert.equal(response.status, 200);
  };
  const signJwt = (claims) => {
    const encode = (value) => Buffer.from(JSON.stringify(value)).toString("base64url");
    const input = `${encode({ alg: "HS256", typ: "JWT" })}.${encode(claims)}`;
    const signature = createHmac("sha256", Buffer.from(JWT_SECRET, "utf8")).update(input).digest("base64url");
    return `${input}.${signature}`;
  };
  let user, key;

  await step("register-unconfirmed", async () => {
    await app.emailPasswordAuth.registerUser({ email, password: passwords[0] });
    const error = await refused(app.logIn(Realm.Credentials.emailPassword(email, passwords[0])), 401);
    assert.match(error.message, /confirmation required/);
  });

  await step("resend-confirmation", async () => {
    const first = await nextToken("confirm", email);
    await app.emailPasswordAuth.resendConfirmationEmail({ email });
    const second = await nextToken("confirm", email);
    assert.notEqual(second.token, first.token);
    await app.emailPasswordAuth.retryCustomConfirmation({ email });
    const third = await nextToken("confirm", email);
    await app.emailPasswordAuth.confirmUser({ token: third.token, tokenId: third.tokenId });
    // Single use.
    await refused(app.emailPasswordAuth.confirmUser({ token: third.token, tokenId: third.tokenId }), 400);
  });

  await step("email-login", async () => {
    user = await app.logIn(Realm.Credentials.emailPassword(email, passwords[0]));
    assert.equal(user.providerType, "local-userpass");
    assert.equal(user.profile.email, email);
  });

  await step("api-keys", async () => {
    const created = await user.apiKeys.create("rw-key");
    assert.equal(typeof created.key, "string");
    assert.equal(created.key.length, 64);
    assert.equal(created.name, "rw-key");
    assert.equal(created.disabled, false);
    key = created;
    const fetched = await user.apiKeys.fetch(created._id);
    assert.deepEqual(fetched, { _id: created._id, name: "rw-key", disabled: false });
    const all = await user.apiKeys.fetchAll();
    assert.deepEqual(all, [{ _id: created._id, name: "rw-key", disabled: false }]);
    await user.apiKeys.disable(created._id);
    assert.equal((await user.apiKeys.fetch(created._id)).disabled, true);
    await refused(newApp().logIn(Realm.Credentials.apiKey(created.key)), 401);
    await user.apiKeys.enable(created._id);
    assert.equal((await user.apiKeys.fetch(created._id)).disabled, false);
  });

  await step("api-key-login", async () => {
    const viaKey = await newApp().logIn(Realm.Credentials.apiKey(key.key));
    assert.equal(viaKey.id, user.id);
    // (viaKey.providerType is realm-web's stored value for this user id: "local-userpass".)
    const result = await viaKey.functions.callFunction("echo");
    assert.equal(result.headers["x-user-id"], user.id);
    assert.equal(result.headers["x-user-provider"], "api-key");
  });

  await step("api-key-delete", async () => {
    await user.apiKeys.delete(key._id);
    assert.deepEqual(await user.apiKeys.fetchAll(), []);
    await refused(user.apiKeys.fetch(key._id), 404);
    await refused(newApp().logIn(Realm.Credentials.apiKey(key.key)), 401);
  });

  await step("jwt", async () => {
    const now = Math.floor(Date.now() / 1000);
    const sub = `jwt-${randomUUID()}`;
    const token = signJwt({ sub, aud: JWT_AUDIENCE, iat: now, exp: now + 300, email: `${sub}@example.com` });
    const jwtUser = await newApp().logIn(Realm.Credentials.jwt(token));
    assert.equal(jwtUser.providerType, "custom-token");
    assert.equal(jwtUser.profile.email, `${sub}@example.com`);
    // The same subject logs in as the same user.
    const again = await newApp().logIn(Realm.Credentials.jwt(token));
    assert.equal(again.id, jwtUser.id);
    const forged = `${token.slice(0, token.lastIndexOf("."))}.${"A".repeat(43)}`;
    await refused(newApp().logIn(Realm.Credentials.jwt(forged)), 401);
  });

  await step("function", async () => {
    const username = `fn-${randomUUID()}`;
    const fnUser = await newApp().logIn(Realm.Credentials.function({ username }));
    assert.equal(fnUser.providerType, "custom-function");
    const again = await newApp().logIn(Realm.Credentials.function({ username }));
    assert.equal(again.id, fnUser.id);
    await refused(newApp().logIn(Realm.Credentials.function({ nobody: true })), 401);
  });

  await step("reset-send", async () => {
    await app.emailPasswordAuth.sendResetPasswordEmail({ email });
    const { token, tokenId } = await nextToken("reset", email);
    await app.emailPasswordAuth.resetPassword({ token, tokenId, password: passwords[1] });
    await refused(newApp().logIn(Realm.Credentials.emailPassword(email, passwords[0])), 401);
    const relogged = await newApp().logIn(Realm.Credentials.emailPassword(email, passwords[1]));
    assert.equal(relogged.id, user.id);
    await refused(app.emailPasswordAuth.resetPassword({ token, tokenId, password: passwords[2] }), 400);
  });

  await step("reset-call", async () => {
    await setResetAnswer({ status: "success" });
    await app.emailPasswordAuth.callResetPasswordFunction({ email, password: passwords[2] }, "why", 2);
    const delivered = await nextToken("reset", email);
    // realm-web sends canonical EJSON arguments; the webhook gets them as sent.
    assert.deepEqual(Realm.BSON.EJSON.deserialize(delivered.arguments), ["why", 2]);
    const relogged = await newApp().logIn(Realm.Credentials.emailPassword(email, passwords[2]));
    assert.equal(relogged.id, user.id);
    await setResetAnswer({ status: "fail" });
    await refused(app.emailPasswordAuth.callResetPasswordFunction({ email, password: passwords[0] }), 400);
    await nextToken("reset", email);
    // Unknown emails get the same answer as known ones.
    await refused(
      app.emailPasswordAuth.callResetPasswordFunction({ email: `nobody-${randomUUID()}@example.com`, password: passwords[0] }),
      400,
    );
    await setResetAnswer({ status: "pending" });
  });

  let linked;
  const linkedEmail = `rw-link-${randomUUID()}@example.com`;
  await step("link", async () => {
    linked = await app.logIn(Realm.Credentials.anonymous(false));
    assert.equal(linked.providerType, "anon-user");
    await app.emailPasswordAuth.registerUser({ email: linkedEmail, password: passwords[0] });
    const { token, tokenId } = await nextToken("confirm", linkedEmail);
    await app.emailPasswordAuth.confirmUser({ token, tokenId });
    await linked.linkCredentials(Realm.Credentials.emailPassword(linkedEmail, passwords[0]));
    const types = linked.identities.map((i) => i.providerType).sort();
    assert.deepEqual(types, ["anon-user", "local-userpass"]);
    assert.equal(linked.profile.email, linkedEmail);
    const viaEmail = await newApp().logIn(Realm.Credentials.emailPassword(linkedEmail, passwords[0]));
    assert.equal(viaEmail.id, linked.id);
  });

  await step("link-refused", async () => {
    const other = await app.logIn(Realm.Credentials.anonymous(false));
    assert.notEqual(other.id, linked.id);
    await refused(other.linkCredentials(Realm.Credentials.emailPassword(email, passwords[2])), 409);
    await other.refreshProfile();
    assert.deepEqual(other.identities.map((i) => i.providerType), ["anon-user"]);
  });

  await step("delete-user", async () => {
    app.switchUser(linked);
    await app.deleteUser(linked);
    assert.ok(!app.allUsers[linked.id], "deleted user still listed");
    await refused(newApp().logIn(Realm.Credentials.emailPassword(linkedEmail, passwords[0])), 401);
  });

  await step("logout", async () => {
    const refreshToken = user.refreshToken;
    await user.logOut();
    await expectInvalidSession("POST", `${API}/auth/session`, refreshToken);
  });
}

// OpenID Connect providers with id tokens and a code from the local issuer the Rust test runs
// (tests/oidc.rs has the refusals and the redirect flow).
async function oidc() {
  const googleToken = env("SESSIONGATE_GOOGLE_ID_TOKEN");
  let user;

  await step("google-id-token", async () => {
    user = await newApp().logIn(Realm.Credentials.google({ idToken: googleToken }));
    assert.equal(user.providerType, "oauth2-google");
    assert.equal(user.profile.email, env("SESSIONGATE_GOOGLE_EMAIL"));
    const again = await newApp().logIn(Realm.Credentials.google({ idToken: googleToken }));
    assert.equal(again.id, user.id);
  });

  await step("google-auth-code", async () => {
    const viaCode = await newApp().logIn(Realm.Credentials.google({ authCode: env("SESSIONGATE_GOOGLE_CODE") }));
    assert.equal(viaCode.id, user.id, "the code's id token names the same sub");
  });

  await step("google-refused", async () => {
    let error;
    try { await newApp().logIn(Realm.Credentials.google({ idToken: env("SESSIONGATE_WRONG_AUDIENCE_TOKEN") })); } catch (err) { error = err; }
    assert.ok(error, "a token for another audience must be refused");
    assert.equal(error.statusCode, 401, String(error));
    assert.equal(error.errorCode, "AuthError");
    assert.match(error.error, /audience/);
  });

  await step("apple-id-token", async () => {
    const apple = await newApp().logIn(Realm.Credentials.apple(env("SESSIONGATE_APPLE_ID_TOKEN")));
    assert.equal(apple.providerType, "oauth2-apple");
    assert.notEqual(apple.id, user.id);
  });

  await step("logout", async () => {
    const refreshToken = user.refreshToken;
    await user.logOut();
    await expectInvalidSession("POST", `${API}/auth/session`, refreshToken);
  });
}

const scenarios = { core, providers, oidc };

const name = process.env.SCENARIO || "core";
if (!(name in scenarios)) fail("setup", `unknown SCENARIO ${name} (have: ${Object.keys(scenarios).join(", ")})`);
await scenarios[name]();
process.exit(0);
