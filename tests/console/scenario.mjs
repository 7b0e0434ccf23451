// Drives the admin console in headless Chromium (Debian's /usr/bin/chromium) with
// playwright-core, against a running sessiongate set up by tests/console.rs.
//
// Env: ADMIN_URL (admin listener), ADMIN_KEY, USER_ID and USER_EMAIL (a user with two
// sessions: Firefox on Windows and Mobile Safari on an iPhone), SCREENSHOTS (a directory).
// Prints `ok <step>` per step. After revoking the iPhone session it prints
// `CHECK revoked <session id>` and waits for a line on stdin (the Rust side checks the proxy
// refuses that session's token, then answers). On failure prints `FAIL <step>: …` to stderr
// and exits 1.
import assert from "node:assert/strict";
import { mkdtempSync, mkdirSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
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

const ADMIN = env("ADMIN_URL").replace(/\/+$/, "");
const KEY = env("ADMIN_KEY");
const USER_ID = env("USER_ID");
const USER_EMAIL = env("USER_EMAIL");
const SHOTS = env("SCREENSHOTS");
const STEP_TIMEOUT_MS = Number(process.env.SCENARIO_STEP_TIMEOUT_MS || 20000);
mkdirSync(SHOTS, { recursive: true });

const stdin = createInterface({ input: process.stdin });
const lines = stdin[Symbol.asyncIterator]();

async function step(name, fn) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${STEP_TIMEOUT_MS} ms`)), STEP_TIMEOUT_MS);
  });
  try {
    await Promise.race([fn(), timeout]);
  } catch (err) {
    try {
      await page.screenshot({ path: join(SHOTS, `failed-${name.replace(/\W+/g, "-")}.png`), fullPage: true });
    } catch {}
    fail(name, `${err?.stack || err}\nproblems: ${problems.join("\n")}`);
  } finally {
    clearTimeout(timer);
  }
  console.log(`ok ${name}`);
}

// ---------------------------------------------------------------- browser

const profile = mkdtempSync(join(tmpdir(), "sessiongate-console-"));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
  viewport: { width: 1440, height: 900 },
});
const page = context.pages()[0] || (await context.newPage());
// Any script error or CSP violation on a console page fails the run.
const problems = [];
page.on("pageerror", (err) => problems.push(`page error: ${err.message}`));
page.on("console", (msg) => {
  // Refused API calls (401, 400, …) are expected along the way; anything else is a problem.
  if (msg.type() === "error" && !msg.text().startsWith("Failed to load resource")) problems.push(`console: ${msg.text()}`);
});

/// A full-page screenshot, without the passing status toast.
async function shot(name) {
  await page.evaluate(() => document.getElementById("status")?.classList.remove("shown"));
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

/// Presses Tab until the focused element matches the CSS `selector` (and contains `text`, if
/// given): keyboard-only navigation.
async function tabTo(selector, text = "", max = 80) {
  for (let i = 0; i < max; i++) {
    const there = await page.evaluate(([s, t]) => {
      const el = document.activeElement;
      return Boolean(el?.matches(s) && el.textContent.includes(t));
    }, [selector, text]);
    if (there) return;
    await page.keyboard.press("Tab");
  }
  throw new Error(`Tab never reached ${selector} ${text}`);
}

const api = (path) => `/api/admin/v3.0/groups/console/apps/${process.env.APP_ID || "test-app"}/${path}`;
const noProblems = () => assert.deepEqual(problems, [], problems.join("\n"));

// ---------------------------------------------------------------- steps

await step("console page is served with a strict policy", async () => {
  const response = await page.goto(`${ADMIN}/`);
  assert.equal(response.status(), 200);
  const headers = response.headers();
  assert.match(headers["content-security-policy"], /default-src 'none'; script-src 'self'/);
  assert.equal(headers["x-frame-options"], "DENY");
  await page.locator("#sign-in").waitFor({ state: "visible" });
  await shot("sign-in");
});

await step("wrong admin key refused", async () => {
  await page.keyboard.type("not-the-admin-key");
  await page.keyboard.press("Enter");
  await page.locator("#sign-in-error", { hasText: "refused" }).waitFor();
  assert.equal((await context.cookies()).length, 0, "no cookie for a wrong key");
  assert.equal(await page.locator("#nav").isVisible(), false);
  await shot("sign-in-refused");
});

await step("keyboard sign in", async () => {
  await tabTo("#admin-key");
  await page.keyboard.press("Control+A");
  await page.keyboard.type(KEY);
  await page.keyboard.press("Enter");
  await page.locator("h1", { hasText: "Users" }).waitFor();
  const cookies = await context.cookies();
  assert.equal(cookies.length, 1);
  assert.equal(cookies[0].httpOnly, true);
  assert.equal(cookies[0].sameSite, "Strict");
  const stored = await page.evaluate(() => JSON.stringify(localStorage) + JSON.stringify(sessionStorage));
  assert.equal(stored, "{}{}", "nothing in web storage");
  assert.equal(await page.evaluate(() => document.cookie), "", "the cookie is not readable by scripts");
});

await step("find the user by email (keyboard)", async () => {
  await tabTo("#q-email");
  await page.keyboard.type(USER_EMAIL);
  await page.keyboard.press("Enter");
  await page.locator(".summary", { hasText: "1 user" }).waitFor();
  await shot("users");
  await tabTo(`a[href="#/users/${USER_ID}"]`);
  await page.keyboard.press("Enter");
  await page.locator("h1", { hasText: `User ${USER_EMAIL}` }).waitFor();
});

await step("both sessions with parsed user agents", async () => {
  const rows = page.locator("table:has(caption:text('Sessions')) tbody tr");
  assert.equal(await rows.count(), 2);
  const text = (await rows.allInnerTexts()).join("\n");
  for (const part of ["Firefox 128", "Windows 10", "Mobile Safari 17", "iOS 17", "iPhone", "127.0.0.1"]) {
    assert.ok(text.includes(part), `${part} in\n${text}`);
  }
  await shot("user");
});

let revokedSession;
await step("revoke the iPhone session (keyboard)", async () => {
  const button = page.locator("button[aria-label*='Mobile Safari']");
  revokedSession = (await button.getAttribute("aria-label")).match(/Revoke session (\S+)/)[1];
  await tabTo("button[aria-label*='Mobile Safari']");
  await page.keyboard.press("Enter");
  await page.locator("tr", { hasText: "Mobile Safari" }).locator(".badge", { hasText: "revoked" }).waitFor();
  await page.locator("tr", { hasText: "Firefox" }).locator(".badge", { hasText: "active" }).waitFor();
  await shot("user-session-revoked");
  // The README's picture (docs/console.png is a copy of it).
  await page.setViewportSize({ width: 1100, height: 700 });
  await shot("readme");
  await page.setViewportSize({ width: 1440, height: 900 });
});

await step("the proxy refuses the revoked session", async () => {
  console.log(`CHECK revoked ${revokedSession}`);
  const answer = await lines.next();
  assert.equal(answer.value, "checked");
});

await step("mint a one-time grant", async () => {
  await tabTo("#grant-ttl");
  await tabTo("form.inline button[type=submit]");
  await page.keyboard.press("Enter");
  const token = await page.locator("#grant-token").inputValue();
  assert.ok(token.length > 20, token);
});

await step("delete asks for confirmation; Escape cancels", async () => {
  await tabTo("button.danger", "Delete user");
  await page.keyboard.press("Enter");
  await page.locator("dialog[open]").waitFor();
  await shot("user-delete-confirm");
  await page.keyboard.press("Escape");
  await page.locator("dialog").waitFor({ state: "detached" });
  await page.locator("h1", { hasText: `User ${USER_EMAIL}` }).waitFor();
});

// A page on another origin of the same host (another port: same *site*, so the SameSite=Strict
// cookie is sent) tries to change things on the admin listener with the operator's cookie.
await step("cross-site form posts and scripts are refused", async () => {
  const base = `${ADMIN}${api("")}`;
  const attack = `<!doctype html><title>attacker</title>
<iframe name="sink1"></iframe><iframe name="sink2"></iframe>
<form id="f1" method="POST" enctype="text/plain" target="sink1" action="${base}users">
<input name='{"email":"mallory@evil.example","password":"Pa55w0rd!","x":"' value='"}'></form>
<form id="f2" method="POST" target="sink2" action="${base}security/signing_keys"></form>
<script>
const loaded = (name) => new Promise((r) => document.querySelector('iframe[name=' + name + ']').addEventListener('load', r, { once: true }));
const waits = [loaded('sink1'), loaded('sink2')];
document.getElementById('f1').submit();
document.getElementById('f2').submit();
const tries = [
  fetch('${base}users/${USER_ID}/disable', { method: 'PUT', credentials: 'include', headers: { 'X-Sessiongate-Console': '1' } }).then((r) => 'answered ' + r.status, (e) => 'blocked'),
  fetch('${base}users', { method: 'POST', mode: 'no-cors', credentials: 'include', body: '{"email":"mallory2@evil.example","password":"Pa55w0rd!"}' }).then(() => 'sent', () => 'blocked'),
];
Promise.all([...waits, ...tries]).then((all) => { window.results = all.slice(2); });
</script>`;
  const server = createServer((req, res) => {
    res.writeHead(200, { "content-type": "text/html" });
    res.end(attack);
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const attacker = await context.newPage();
  try {
    await attacker.goto(`http://127.0.0.1:${server.address().port}/`);
    await attacker.waitForFunction(() => window.results !== undefined);
    const results = await attacker.evaluate(() => window.results);
    assert.equal(results[0], "blocked", "a cross-origin PUT with the console header needs a preflight we never grant");
  } finally {
    await attacker.close();
    server.close();
  }
  // The console shows nothing changed.
  await page.goto(`${ADMIN}/#/users?email=mallory%40evil.example`);
  await page.locator(".summary", { hasText: "0 users" }).waitFor();
  await page.goto(`${ADMIN}/#/users/${USER_ID}`);
  await page.locator(".details .badge", { hasText: "enabled" }).waitFor();
});

await step("disable the user (keyboard)", async () => {
  await tabTo("button", "Disable user");
  await page.keyboard.press("Enter");
  await page.locator(".details .badge", { hasText: "disabled" }).waitFor();
  await page.locator("button", { hasText: "Enable user" }).waitFor();
  assert.equal(await page.locator("tbody .badge", { hasText: "active" }).count(), 0, "every session revoked");
  await shot("user-disabled");
});

await step("change the refresh-token expiration (keyboard)", async () => {
  await tabTo("a[href='#/security']");
  await page.keyboard.press("Enter");
  await page.locator("h1", { hasText: "Security" }).waitFor();
  await tabTo("#ttl-amount");
  await page.keyboard.press("Control+A");
  await page.keyboard.type("7");
  await page.keyboard.press("Tab");
  await page.keyboard.type("days");
  await tabTo("form.inline button[type=submit]");
  await page.keyboard.press("Enter");
  await page.locator("#ttl-current", { hasText: "Currently 7 days." }).waitFor();
});

await step("an out-of-range expiration is refused", async () => {
  for (const [amount, unit] of [["200", "days"], ["10", "minutes"]]) {
    await page.locator("#ttl-amount").fill(amount);
    await page.locator("#ttl-unit").selectOption({ label: unit });
    await page.locator("#ttl-amount").press("Enter");
    await page.locator("#ttl-error", { hasText: "must be between 1800 and 15552000" }).waitFor();
    await page.locator("#ttl-current", { hasText: "Currently 7 days." }).waitFor();
  }
  assert.equal(await page.locator("table:has(caption:text('Keys')) tbody tr").count(), 1);
  await shot("security");
});

await step("health panel", async () => {
  await page.locator("a[href='#/health']").click();
  await page.locator("h1", { hasText: "Health" }).waitFor();
  const text = await page.locator("main").innerText();
  for (const part of ["Version", "sqlite", "ready", "Hit ratio", "Revocations by source"]) {
    assert.ok(text.includes(part), `${part} in\n${text}`);
  }
  await shot("health");
});

await step("pages fit 375 and 1440 px wide", async () => {
  for (const width of [375, 1440]) {
    await page.setViewportSize({ width, height: width === 375 ? 812 : 900 });
    const pages = [["users", "#/users", "Users"], ["user", `#/users/${USER_ID}`, `User ${USER_EMAIL}`],
      ["security", "#/security", "Security"], ["health", "#/health", "Health"]];
    for (const [name, hash, heading] of pages) {
      await page.goto(`${ADMIN}/${hash}`);
      await page.waitForFunction((text) => document.querySelector("#view h1")?.textContent === text
        && !document.querySelector("#view[aria-busy]"), heading);
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 0, `${name} at ${width}px overflows by ${overflow}px`);
      await shot(`${name}-${width}`);
      console.log(`  rendered ${name} at ${width}px`);
    }
  }
});

await step("sign out ends the console session", async () => {
  await tabTo("#sign-out");
  await page.keyboard.press("Enter");
  await page.locator("#sign-in").waitFor({ state: "visible" });
  const status = await page.evaluate(async (path) => (await fetch(path)).status, api("users"));
  assert.equal(status, 401);
  noProblems();
});

await context.close();
rmSync(profile, { recursive: true, force: true });
console.log("ok done");
process.exit(0);
