// Security: the refresh-token expiration (30 minutes .. 180 days; the Admin API enforces it)
// and the signing keys (list, rotate, retire).
import { admin, seg } from "./api.js";
import { h, table, duration, announce, confirmAction, run, errorText } from "./dom.js";

const UNITS = [["minutes", 60], ["hours", 3600], ["days", 86400]];

function largestUnit(seconds) {
  for (const [name, size] of [...UNITS].reverse()) if (seconds % size === 0) return [name, size];
  return UNITS[0];
}

function refreshSection(current) {
  const [unitName, unitSize] = largestUnit(current);
  const amount = h("input", {
    id: "ttl-amount", type: "number", min: "1", step: "1", required: true,
    value: String(current / unitSize), inputmode: "numeric", "aria-describedby": "ttl-help ttl-error",
  });
  const unit = h("select", { id: "ttl-unit", "aria-label": "Unit" },
    UNITS.map(([name, size]) => h("option", { value: size, selected: name === unitName }, name)));
  const error = errorText("ttl-error");
  const shown = h("p", { id: "ttl-current" }, `Currently ${duration(current)}.`);
  const save = h("button", { type: "submit" }, "Save");
  const form = h("form", { class: "inline", "aria-labelledby": "ttl-title" },
    h("label", { for: "ttl-amount" }, "Refresh tokens expire after"), amount, unit, save);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    run(save, error, async () => {
      const seconds = Math.round(Number(amount.value) * Number(unit.value));
      await admin("PUT", "security/refresh_token_expiration", { expiration_time_seconds: seconds });
      shown.textContent = `Currently ${duration(seconds)}.`;
      announce(`Refresh-token expiration set to ${duration(seconds)}.`);
    });
  });
  return h("section", { class: "card", "aria-labelledby": "ttl-title" },
    h("h2", { id: "ttl-title" }, "Refresh-token expiration"),
    shown,
    form,
    h("p", { id: "ttl-help", class: "help" },
      "Between 30 minutes and 180 days. Applies to sessions created from now on, on every replica."),
    error);
}

function keysSection(keys, refresh) {
  const error = errorText("keys-error");
  const rotate = h("button", { type: "button", class: "secondary" }, "Rotate: add a new signing key");
  rotate.addEventListener("click", () => run(rotate, error, async () => {
    const rotated = await admin("POST", "security/signing_keys");
    announce(`Key ${rotated.kid} added; it signs from ${new Date(rotated.active_from * 1000).toLocaleTimeString()}.`);
    await refresh();
  }));
  const rows = keys.map((k) => {
    const retire = h("button", { type: "button", class: "danger small", "aria-label": `Retire key ${k.kid}` }, "Retire");
    retire.addEventListener("click", async () => {
      const ok = await confirmAction(`Retire key ${k.kid}?`,
        "Every token it signed is refused at once, on every replica. Use this for a compromised key.", "Retire key");
      if (!ok) return retire.focus();
      await run(retire, error, async () => {
        await admin("DELETE", `security/signing_keys/${seg(k.kid)}`);
        announce(`Key ${k.kid} retired.`);
        await refresh();
      });
    });
    return [h("code", {}, k.kid), k.signing ? h("span", { class: "badge on" }, "signs now") : "verifies", retire];
  });
  return h("section", { class: "card", "aria-labelledby": "keys-title" },
    h("h2", { id: "keys-title", tabindex: "-1" }, "Signing keys"),
    h("p", { class: "help" }, "A new key signs 15 seconds after rotation; older keys keep verifying until their tokens expire."),
    table("Keys this replica verifies with", ["Key id", "Use", "Action"], rows),
    h("div", { class: "actions" }, rotate),
    error);
}

/// The security page.
export async function securityPage() {
  const [ttl, keys] = await Promise.all([
    admin("GET", "security/refresh_token_expiration"),
    admin("GET", "security/signing_keys"),
  ]);
  const page = h("section", { "aria-labelledby": "security-title" },
    h("h1", { id: "security-title" }, "Security"),
    refreshSection(ttl.expiration_time_seconds));
  const refreshKeys = async () => {
    const fresh = keysSection(await admin("GET", "security/signing_keys"), refreshKeys);
    page.querySelector("#keys-section").replaceChildren(fresh);
    fresh.querySelector("#keys-title").focus();
  };
  page.append(h("div", { id: "keys-section" }, keysSection(keys, refreshKeys)));
  return page;
}
