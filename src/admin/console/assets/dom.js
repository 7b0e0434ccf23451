// DOM helpers. Everything shown comes from the gateway (user data, user agents), so text is
// only ever set with textContent and attributes with setAttribute: no HTML strings anywhere
// (the page's Trusted Types policy would refuse them anyway).

/// h("button", {class: "x", onclick: fn, "aria-label": "…"}, "text", childNode, …)
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else if (value === true) el.setAttribute(name, "");
    else el.setAttribute(name, String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/// A table whose cells carry their column name (shown as a label on narrow screens).
export function table(caption, columns, rows) {
  return h("div", { class: "table-wrap" },
    h("table", {},
      h("caption", {}, caption),
      h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, rows.map((cells) =>
        h("tr", {}, cells.map((cell, i) => h("td", { "data-label": columns[i] }, cell)))))));
}

/// Unix seconds as a local date and time, or an em dash.
export function time(unix) {
  if (unix === null || unix === undefined) return "—";
  const d = new Date(unix * 1000);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/// A number of seconds in the largest whole unit ("60 days", "90 minutes").
export function duration(seconds) {
  const units = [["day", 86400], ["hour", 3600], ["minute", 60]];
  for (const [name, size] of units) {
    if (seconds >= size && seconds % size === 0) {
      const n = seconds / size;
      return `${n} ${name}${n === 1 ? "" : "s"}`;
    }
  }
  return `${seconds} seconds`;
}

/// Browser, OS and device of a parsed user agent.
export function agent(ua) {
  if (!ua) return { browser: "unknown", os: "unknown", device: "unknown" };
  const version = (p) => [p.major, p.minor].filter((v) => v).join(".");
  const named = (p) => (p.family === "Other" ? "unknown" : [p.family, version(p)].filter((v) => v).join(" "));
  const device = ua.device && ua.device.family !== "Other" ? ua.device.family : "desktop / other";
  return { browser: named(ua), os: named(ua.os), device };
}

/// Says `message` in the live region (and shows it briefly).
export function announce(message) {
  const status = document.getElementById("status");
  status.textContent = message;
  status.classList.add("shown");
  clearTimeout(announce.timer);
  announce.timer = setTimeout(() => status.classList.remove("shown"), 6000);
}

/// A paragraph for an error, read out at once.
export function errorText(id) {
  return h("p", { class: "error", id, role: "alert" });
}

/// Asks to confirm a dangerous action in a modal dialog; resolves to true or false.
export function confirmAction(title, text, action) {
  return new Promise((resolve) => {
    const dialog = h("dialog", { "aria-labelledby": "confirm-title", "aria-describedby": "confirm-text" },
      h("h2", { id: "confirm-title" }, title),
      h("p", { id: "confirm-text" }, text),
      h("form", { method: "dialog", class: "actions" },
        h("button", { value: "cancel", class: "secondary", autofocus: true }, "Cancel"),
        h("button", { value: "ok", class: "danger" }, action)));
    dialog.addEventListener("close", () => {
      resolve(dialog.returnValue === "ok");
      dialog.remove();
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}

/// Runs an action on a button: disabled while it runs, errors shown in `errorEl`.
export async function run(button, errorEl, action) {
  errorEl.textContent = "";
  button.disabled = true;
  try {
    await action();
  } catch (err) {
    errorEl.textContent = err.message;
  } finally {
    button.disabled = false;
  }
}
