// The console's entry point: sign-in, sign-out, navigation and the hash router.
// Pages: #/users, #/users/{id}, #/security, #/health (one module each).
import { configure, request, ApiError } from "./api.js";
import { announce } from "./dom.js";
import { usersPage } from "./users.js";
import { userPage } from "./user.js";
import { securityPage } from "./security.js";
import { healthPage } from "./health.js";

const $ = (id) => document.getElementById(id);
let session = null;

function showSignIn(message) {
  session = null;
  $("nav").hidden = true;
  $("view").replaceChildren();
  $("sign-in").hidden = false;
  $("sign-in-error").textContent = message || "";
  document.title = "Sign in · sessiongate console";
  $("admin-key").focus();
}

function signedIn(info) {
  session = info;
  configure(info, () => showSignIn("Your console session has ended. Sign in again."));
  $("sign-in").hidden = true;
  $("nav").hidden = false;
  if (!location.hash.startsWith("#/")) location.hash = "#/users";
  else route();
}

async function signIn(event) {
  event.preventDefault();
  const input = $("admin-key");
  const button = event.submitter || event.target.querySelector("button");
  button.disabled = true;
  $("sign-in-error").textContent = "";
  try {
    const info = await request("POST", "/console/session", { key: input.value });
    input.value = "";
    signedIn(info);
  } catch (err) {
    $("sign-in-error").textContent = err.status === 401 ? "That admin key was refused." : err.message;
    input.select();
  } finally {
    button.disabled = false;
  }
}

async function signOut() {
  try {
    await request("DELETE", "/console/session");
  } catch (err) {
    announce(`Sign-out failed: ${err.message}`);
    return;
  }
  history.replaceState(null, "", location.pathname);
  showSignIn("You are signed out.");
}

const routes = [
  [/^#\/users\/?(?:\?(.*))?$/, (m) => usersPage(new URLSearchParams(m[1] || "")), "Users"],
  [/^#\/users\/([^/?]+)$/, (m) => userPage(decodeURIComponent(m[1])), "User"],
  [/^#\/security$/, () => securityPage(), "Security"],
  [/^#\/health$/, () => healthPage(session), "Health"],
];

/// Renders the page of the current hash; moves focus to its heading (for screen readers and
/// keyboard users, as a page load would).
async function route() {
  if (!session || !location.hash.startsWith("#/")) return;
  const found = routes.map(([re, page, title]) => [location.hash.match(re), page, title]).find(([m]) => m);
  const view = $("view");
  for (const link of document.querySelectorAll("#nav a")) {
    const current = location.hash.startsWith(link.getAttribute("href"));
    if (current) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  if (!found) {
    location.replace("#/users");
    return;
  }
  const [match, page, title] = found;
  document.title = `${title} · sessiongate console`;
  view.setAttribute("aria-busy", "true");
  try {
    const content = await page(match);
    view.replaceChildren(content);
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return;
    const heading = document.createElement("h1");
    heading.textContent = "Something went wrong";
    const text = document.createElement("p");
    text.className = "error";
    text.textContent = err.message;
    view.replaceChildren(heading, text);
  } finally {
    view.removeAttribute("aria-busy");
  }
  const heading = view.querySelector("h1");
  if (heading) {
    heading.tabIndex = -1;
    heading.focus();
  }
}

async function start() {
  $("sign-in-form").addEventListener("submit", signIn);
  $("sign-out").addEventListener("click", signOut);
  window.addEventListener("hashchange", route);
  try {
    signedIn(await request("GET", "/console/session"));
  } catch {
    showSignIn();
  }
}

start();
