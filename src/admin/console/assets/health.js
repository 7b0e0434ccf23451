// Health: version and store backend (from the console session), store status (/readyz), and
// cache and revocation figures from /metrics (Prometheus text, parsed here).
import { request } from "./api.js";
import { h, table, announce } from "./dom.js";

/// Prometheus text → [{name, labels, value}].
function parseMetrics(text) {
  const samples = [];
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const m = line.match(/^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/);
    if (!m) continue;
    const labels = {};
    for (const [, k, v] of (m[2] || "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[k] = v;
    samples.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return samples;
}

const sum = (samples, name) => samples.filter((s) => s.name === name).reduce((t, s) => t + s.value, 0);

async function status(path) {
  try {
    const body = await request("GET", path);
    return { ok: true, text: body.status };
  } catch (err) {
    return { ok: false, text: err.message };
  }
}

/// The health page.
export async function healthPage(session) {
  const [live, ready, text] = await Promise.all([status("/healthz"), status("/readyz"), request("GET", "/metrics")]);
  const samples = parseMetrics(typeof text === "string" ? text : "");
  const hits = sum(samples, "sessiongate_token_cache_hits_total");
  const misses = sum(samples, "sessiongate_token_cache_misses_total");
  const ratio = hits + misses ? `${((100 * hits) / (hits + misses)).toFixed(1)} %` : "—";
  const badge = (s) => h("span", { class: s.ok ? "badge on" : "badge off" }, s.text);
  const bySource = samples.filter((s) => s.name === "sessiongate_revocations_total");
  const staleness = samples.find((s) => s.name === "sessiongate_revocation_list_staleness_seconds");

  const refresh = h("button", { type: "button", class: "secondary" }, "Refresh");
  const page = h("section", { "aria-labelledby": "health-title" },
    h("h1", { id: "health-title" }, "Health"),
    h("div", { class: "grid" },
      h("section", { class: "card", "aria-labelledby": "gw-title" },
        h("h2", { id: "gw-title" }, "Gateway"),
        h("dl", { class: "details" },
          h("dt", {}, "Version"), h("dd", {}, session.version),
          h("dt", {}, "App id"), h("dd", {}, session.app_id),
          h("dt", {}, "Process"), h("dd", {}, badge(live)),
          h("dt", {}, "Store"), h("dd", {}, `${session.store} `, badge(ready)))),
      h("section", { class: "card", "aria-labelledby": "cache-title" },
        h("h2", { id: "cache-title" }, "Token cache"),
        h("dl", { class: "details" },
          h("dt", {}, "Entries"), h("dd", {}, String(sum(samples, "sessiongate_token_cache_entries"))),
          h("dt", {}, "Hits"), h("dd", {}, String(hits)),
          h("dt", {}, "Misses"), h("dd", {}, String(misses)),
          h("dt", {}, "Hit ratio"), h("dd", {}, ratio))),
      h("section", { class: "card", "aria-labelledby": "rev-title" },
        h("h2", { id: "rev-title" }, "Revocations"),
        h("dl", { class: "details" },
          h("dt", {}, "Revocation list age"),
          h("dd", {}, staleness ? `${staleness.value.toFixed(1)} s since the last successful read` : "—")),
        bySource.length
          ? table("Revocations by source", ["Source", "Count"], bySource.map((s) => [s.labels.source || "—", String(s.value)]))
          : h("p", {}, "No revocations yet."))),
    h("p", { class: "help" }, "Figures are this replica's, since it started."),
    refresh);
  refresh.addEventListener("click", async () => {
    page.replaceWith(await healthPage(session));
    document.getElementById("health-title").focus();
    announce("Health figures refreshed.");
  });
  return page;
}
