// A browser app on its own origin, as a team moving off App Services has one: a page that
// loads the pinned realm-web browser bundle (<script src>, global `Realm`) and talks to the
// gateway on another origin, in headless Chromium (Debian's /usr/bin/chromium) driven by
// playwright-core. Set up by tests/browser.rs.
//
// Env: PAGE_URL (the allowed origin's page), FOREIGN_URL (the same page on an origin the
// gateway does not allow), GATEWAY_URL, WS_URL (a WebSocket route that accepts the token as a
// subprotocol), APP_ID, CHROMIUM. Prints `ok <step>` per step; on failure prints
// `FAIL <step>: …` to stderr and exits 1.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { chromium } from "playwright-core";

const env = (name) => {
  const value = process.env[name];
  if (!value) fail("setup", `missing env ${name}`);
  return value;
};
function fail(step, details) {
  process.stderr.write(`FAIL ${step}: ${details}\n`);
  process.exit(1);
}

const PAGE_URL = env("PAGE_URL");
const FOREIGN_URL = env("FOREIGN_URL");
const GATEWAY = env("GATEWAY_URL").replace(/\/+$/, "");
const WS_URL = env("WS_URL");
const APP_ID = env("APP_ID");
const STEP_TIMEOUT_MS = Number(process.env.SCENARIO_STEP_TIMEOUT_MS || 15000);

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
});
const context = await browser.newContext();
const page = await context.newPage();
const problems = [];
page.on("pageerror", (err) => problems.push(`page error: ${err.message}`));

async function step(name, fn) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${STEP_TIMEOUT_MS} ms`)), STEP_TIMEOUT_MS);
  });
  try {
    await Promise.race([fn(), timeout]);
  } catch (err) {
    fail(name, `${err?.stack || err}\nproblems: ${problems.join("\n")}`);
  } finally {
    clearTimeout(timer);
  }
  console.log(`ok ${name}`);
}

/// Runs `fn(args)` in the page (the app's own code, in the app's origin).
const inPage = (target, fn, args) => target.evaluate(fn, { GATEWAY, APP_ID, WS_URL, ...args });

await step("the page loads the realm-web bundle from its own origin", async () => {
  const response = await page.goto(PAGE_URL);
  assert.equal(response.status(), 200);
  assert.equal(await page.evaluate(() => typeof window.Realm?.App), "function");
  assert.notEqual(new URL(PAGE_URL).origin, GATEWAY, "the page and the gateway are different origins");
});

await step("anonymous login", async () => {
  const anon = await inPage(page, async ({ GATEWAY, APP_ID }) => {
    window.app = new Realm.App({ id: APP_ID, baseUrl: GATEWAY });
    const user = await app.logIn(Realm.Credentials.anonymous());
    return { id: user.id, provider: user.providerType, token: typeof user.accessToken };
  });
  assert.equal(anon.provider, "anon-user");
  assert.ok(anon.id.length > 0);
  assert.equal(anon.token, "string");
});

const email = `browser-${randomUUID()}@example.com`;
await step("email/password register and login", async () => {
  const user = await inPage(page, async ({ email }) => {
    await app.emailPasswordAuth.registerUser({ email, password: "Pa55w0rd!" });
    window.user = await app.logIn(Realm.Credentials.emailPassword(email, "Pa55w0rd!"));
    return { id: user.id, provider: user.providerType, email: user.profile.email, current: app.currentUser === user };
  }, { email });
  assert.equal(user.provider, "local-userpass");
  assert.equal(user.email, email);
  assert.ok(user.current);
});

await step("a proxied fetch with the access token", async () => {
  const answer = await inPage(page, async ({ GATEWAY }) => {
    const response = await fetch(`${GATEWAY}/items/42?q=1`, { headers: { Authorization: `Bearer ${user.accessToken}` } });
    return { status: response.status, requestId: response.headers.get("x-request-id"), echo: await response.json(), userId: user.id };
  });
  assert.equal(answer.status, 200);
  assert.equal(answer.echo.path, "/items/42");
  assert.equal(answer.echo.headers["x-user-id"], answer.userId);
  assert.equal(answer.echo.headers["x-user-provider"], "local-userpass");
  assert.ok(answer.requestId, "the request id header is exposed to the page");
});

await step("callFunction through the gateway", async () => {
  const answer = await inPage(page, async () => {
    const result = await user.functions.callFunction("echo", 1, "two");
    return { result, userId: user.id };
  });
  assert.equal(answer.result.path, `/api/client/v2.0/app/${APP_ID}/functions/call`);
  assert.equal(answer.result.method, "POST");
  assert.equal(answer.result.headers["x-user-id"], answer.userId);
  assert.equal(JSON.parse(answer.result.body).name, "echo");
});

await step("a 401 is readable by the page", async () => {
  const answer = await inPage(page, async ({ GATEWAY }) => {
    const response = await fetch(`${GATEWAY}/items`, { headers: { Authorization: "Bearer not-a-token" } });
    return { status: response.status, body: await response.json() };
  });
  assert.equal(answer.status, 401);
  assert.equal(answer.body.error_code, "InvalidSession");
});

await step("refresh", async () => {
  const answer = await inPage(page, async ({ GATEWAY }) => {
    await user.refreshAccessToken();
    const payload = JSON.parse(atob(user.accessToken.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")));
    const response = await fetch(`${GATEWAY}/items/after-refresh`, { headers: { Authorization: `Bearer ${user.accessToken}` } });
    return { sub: payload.sub, userId: user.id, status: response.status };
  });
  assert.equal(answer.sub, answer.userId);
  assert.equal(answer.status, 200);
});

await step("a WebSocket with the token as a subprotocol", async () => {
  const answer = await inPage(page, async ({ WS_URL }) => {
    const socket = new WebSocket(WS_URL, ["chat.v1", `sessiongate.bearer.${user.accessToken}`]);
    return await new Promise((resolve, reject) => {
      socket.onerror = () => reject(new Error("WebSocket failed"));
      socket.onopen = () => socket.send("hello from the browser");
      socket.onmessage = (event) => {
        resolve({ protocol: socket.protocol, echoed: event.data });
        socket.close();
      };
    });
  });
  assert.equal(answer.protocol, "chat.v1", "the app's protocol, never the token entry");
  assert.equal(answer.echoed, "hello from the browser");
});

await step("logout", async () => {
  const answer = await inPage(page, async ({ GATEWAY }) => {
    const refreshToken = user.refreshToken;
    await user.logOut();
    const response = await fetch(`${GATEWAY}/api/client/v2.0/auth/session`, {
      method: "POST", headers: { Authorization: `Bearer ${refreshToken}` },
    });
    return { after: user.refreshToken, status: response.status, body: await response.json() };
  });
  assert.equal(answer.after, null);
  assert.equal(answer.status, 401, "the refresh token is dead");
  assert.equal(answer.body.error_code, "InvalidSession");
});

await step("a page on an origin that is not allowed fails", async () => {
  const foreign = await context.newPage();
  foreign.on("pageerror", (err) => problems.push(`foreign page error: ${err.message}`));
  try {
    await foreign.goto(FOREIGN_URL);
    const outcome = await inPage(foreign, async ({ GATEWAY, APP_ID }) => {
      const attempt = (promise) => promise.then(() => "succeeded", (err) => `rejected: ${err}`);
      const app = new Realm.App({ id: APP_ID, baseUrl: GATEWAY });
      return {
        login: await attempt(app.logIn(Realm.Credentials.anonymous())),
        fetch: await attempt(fetch(`${GATEWAY}/items`, { headers: { Authorization: "Bearer x" } })),
        simple: await attempt(fetch(`${GATEWAY}/api/client/v2.0/app/${APP_ID}/location`)),
      };
    });
    for (const [what, result] of Object.entries(outcome)) {
      assert.match(result, /^rejected/, `${what}: ${result}`);
    }
  } finally {
    await foreign.close();
  }
});

assert.deepEqual(problems, [], problems.join("\n"));
await browser.close();
console.log("ok done");
process.exit(0);
