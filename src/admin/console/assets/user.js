// One user: identities, data, times, sessions (parsed user agents), and the actions on them.
import { admin, seg } from "./api.js";
import { h, table, time, agent, announce, confirmAction, run, errorText } from "./dom.js";

const GRANT_TTLS = [["5 minutes", 300], ["1 hour", 3600], ["1 day", 86400]];

function sessionRows(user, sessions, refresh, error) {
  return sessions.map((s) => {
    const a = agent(s.user_agent);
    const live = !s.revoked_at && (s.expires_at === null || s.expires_at * 1000 > Date.now());
    const revoke = h("button", {
      type: "button",
      class: "danger small",
      "aria-label": `Revoke session ${s.id} (${a.browser} on ${a.os})`,
    }, "Revoke");
    revoke.addEventListener("click", () => run(revoke, error, async () => {
      await admin("DELETE", `users/${seg(user._id)}/sessions/${seg(s.id)}`);
      announce(`Session ${s.id} revoked.`);
      await refresh();
    }));
    return [
      h("span", { class: "session-agent", title: s.user_agent_raw || "" }, a.browser),
      a.os,
      a.device,
      s.client_ip || "—",
      time(s.created_at),
      time(s.last_used_at),
      s.expires_at === null ? "never" : time(s.expires_at),
      s.revoked_at ? h("span", { class: "badge off" }, `revoked ${time(s.revoked_at)}`)
        : live ? h("span", { class: "badge on" }, "active") : h("span", { class: "badge" }, "expired"),
      live ? revoke : "",
    ];
  });
}

function details(user) {
  const item = (term, value) => [h("dt", {}, term), h("dd", {}, value)];
  return h("dl", { class: "details" },
    item("Id", h("code", {}, user._id)),
    item("Type", user.type),
    item("Status", user.disabled ? h("span", { class: "badge off" }, "disabled") : h("span", { class: "badge on" }, "enabled")),
    item("Created", time(user.creation_date)),
    item("Last login", time(user.last_authentication_date)));
}

/// The page of user `id`.
export async function userPage(id) {
  const [user, sessions] = await Promise.all([
    admin("GET", `users/${seg(id)}`),
    admin("GET", `users/${seg(id)}/sessions`),
  ]);
  const error = errorText("user-error");
  const container = h("section", { "aria-labelledby": "user-title" });
  const rerender = async () => {
    const fresh = await userPage(id);
    container.replaceWith(fresh);
    return fresh;
  };
  const refreshKeepingFocus = async () => {
    const fresh = await rerender();
    fresh.querySelector("#sessions-title").focus();
  };

  const toggle = h("button", { type: "button", class: "secondary" }, user.disabled ? "Enable user" : "Disable user");
  toggle.addEventListener("click", () => run(toggle, error, async () => {
    await admin("PUT", `users/${seg(id)}/${user.disabled ? "enable" : "disable"}`);
    announce(user.disabled ? "User enabled." : "User disabled; every session was revoked.");
    (await rerender()).querySelector("#user-title").focus();
  }));
  const revokeAll = h("button", { type: "button", class: "secondary" }, "Revoke all sessions");
  revokeAll.addEventListener("click", () => run(revokeAll, error, async () => {
    await admin("PUT", `users/${seg(id)}/logout`);
    announce("Every session of this user was revoked.");
    await refreshKeepingFocus();
  }));
  const remove = h("button", { type: "button", class: "danger" }, "Delete user");
  remove.addEventListener("click", async () => {
    const ok = await confirmAction("Delete this user?",
      `User ${id} and every session of theirs will be gone for good.`, "Delete user");
    if (!ok) return remove.focus();
    await run(remove, error, async () => {
      await admin("DELETE", `users/${seg(id)}`);
      announce(`User ${id} deleted.`);
      location.hash = "#/users";
    });
  });

  const ttl = h("select", { id: "grant-ttl" }, GRANT_TTLS.map(([label, s]) => h("option", { value: s }, label)));
  const grantOut = h("div", { class: "grant", "aria-live": "polite" });
  const mint = h("button", { type: "submit", class: "secondary" }, "Mint grant");
  const grantForm = h("form", { class: "inline" },
    h("label", { for: "grant-ttl" }, "One-time grant valid for"), ttl, mint);
  grantForm.addEventListener("submit", (event) => {
    event.preventDefault();
    run(mint, error, async () => {
      const grant = await admin("POST", `users/${seg(id)}/grants`, { ttl_seconds: Number(ttl.value) });
      grantOut.replaceChildren(
        h("label", { for: "grant-token" }, `Grant token (shown once, valid until ${time(grant.expires_at)})`),
        h("input", { id: "grant-token", readonly: true, value: grant.token, spellcheck: "false" }));
      grantOut.querySelector("input").select();
    });
  });

  const title = (user.data && user.data.email) || user._id;
  container.append(
    h("p", { class: "crumbs" }, h("a", { href: "#/users" }, "← Users")),
    h("h1", { id: "user-title" }, `User ${title}`),
    details(user),
    h("div", { class: "actions" }, toggle, revokeAll, remove),
    error,
    h("h2", {}, "One-time grant"),
    grantForm, grantOut,
    h("h2", {}, "Identities"),
    table("Identities", ["Provider", "Identity id"], user.identities.map((i) => [i.provider_type, i.id])),
    h("h2", {}, "Data"),
    h("pre", { class: "data" }, JSON.stringify(user.data, null, 2)),
    h("h2", { id: "sessions-title", tabindex: "-1" }, `Sessions (${sessions.filter((s) => !s.revoked_at).length} live)`),
    sessions.length
      ? table("Sessions, newest first", ["Browser", "OS", "Device", "IP", "Created", "Last used", "Expires", "Status", "Action"],
        sessionRows(user, sessions, refreshKeepingFocus, error))
      : h("p", {}, "No sessions."));
  return container;
}
