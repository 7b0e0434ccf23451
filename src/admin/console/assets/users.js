// Users: search by id, email or provider; pages of 20 ordered by id.
import { admin, seg } from "./api.js";
import { h, table, time, errorText } from "./dom.js";

const PAGE = 20;
const PROVIDERS = ["anon-user", "local-userpass", "api-key", "custom-token", "custom-function", "grant"];

function email(user) {
  return (user.data && user.data.email) || "";
}

function userRows(users) {
  return users.map((u) => [
    h("a", { href: `#/users/${seg(u._id)}` }, u._id),
    email(u) || "—",
    [...new Set(u.identities.map((i) => i.provider_type))].join(", "),
    time(u.creation_date),
    time(u.last_authentication_date),
    u.disabled ? h("span", { class: "badge off" }, "disabled") : h("span", { class: "badge on" }, "enabled"),
  ]);
}

/// The users page for the query in the hash (`id`, `email`, `provider`, `after`, `prev`).
export async function usersPage(params) {
  const id = params.get("id") || "";
  const mail = params.get("email") || "";
  const provider = params.get("provider") || "";
  const after = params.get("after") || "";
  const error = errorText("users-error");

  let users = [];
  if (id) {
    try {
      users = [await admin("GET", `users/${seg(id)}`)];
    } catch (err) {
      if (err.status !== 404) throw err;
    }
  } else {
    const query = new URLSearchParams({ limit: String(PAGE + 1) });
    if (mail) query.set("email", mail);
    if (provider) query.set("provider", provider);
    if (after) query.set("after", after);
    try {
      users = await admin("GET", `users?${query}`);
    } catch (err) {
      if (err.status !== 400) throw err;
      error.textContent = err.message;
    }
  }
  const more = users.length > PAGE;
  users = users.slice(0, PAGE);

  const form = h("form", { class: "search", role: "search", "aria-label": "Find users" },
    h("div", { class: "field" }, h("label", { for: "q-id" }, "User id"),
      h("input", { id: "q-id", name: "id", value: id, autocomplete: "off", spellcheck: "false" })),
    h("div", { class: "field" }, h("label", { for: "q-email" }, "Email"),
      h("input", { id: "q-email", name: "email", type: "email", value: mail, autocomplete: "off" })),
    h("div", { class: "field" }, h("label", { for: "q-provider" }, "Provider"),
      h("select", { id: "q-provider", name: "provider" },
        h("option", { value: "" }, "any"),
        PROVIDERS.map((p) => h("option", { value: p, selected: p === provider }, p)))),
    h("button", { type: "submit" }, "Search"));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const next = new URLSearchParams();
    for (const [key, value] of new FormData(form)) if (value) next.set(key, value);
    location.hash = `#/users?${next}`;
  });

  const pageLink = (label, extra) => {
    const next = new URLSearchParams(params);
    next.delete("after");
    for (const [k, v] of Object.entries(extra)) if (v) next.set(k, v);
    return h("a", { class: "button secondary", href: `#/users?${next}` }, label);
  };
  const paging = h("nav", { class: "paging", "aria-label": "Pages" },
    after ? pageLink("First page", {}) : null,
    more ? pageLink("Next page", { after: users[users.length - 1]._id }) : null);

  const summary = id
    ? (users.length ? "1 user with that id" : "No user with that id")
    : `${users.length} user${users.length === 1 ? "" : "s"}${after ? " after " + after : ""}${more ? ", more on the next page" : ""}`;

  return h("section", { "aria-labelledby": "users-title" },
    h("h1", { id: "users-title" }, "Users"),
    form,
    error,
    h("p", { class: "summary", role: "status" }, summary),
    users.length
      ? table("Users, ordered by id", ["Id", "Email", "Providers", "Created", "Last login", "Status"], userRows(users))
      : null,
    paging);
}
