// The console's only way to the gateway: same-origin fetches to the console session route and
// the Admin API, authenticated by the HttpOnly console cookie. Every call carries the
// X-Sessiongate-Console header the gateway requires of cookie requests (CSRF defence).

export class ApiError extends Error {
  constructor(status, message, code) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

let base = null;
let onSignedOut = () => {};

/// Points the Admin API calls at the app of the signed-in session.
export function configure(info, signedOut) {
  base = `/api/admin/v3.0/groups/${encodeURIComponent(info.group_id)}/apps/${encodeURIComponent(info.app_id)}/`;
  onSignedOut = signedOut;
}

/// One request; resolves to the parsed JSON (or text, or null for 204), rejects with ApiError.
export async function request(method, path, body) {
  const headers = { "X-Sessiongate-Console": "1", Accept: "application/json" };
  const init = { method, headers, credentials: "same-origin", cache: "no-store" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (err) {
    throw new ApiError(0, `the gateway did not answer (${err.message})`, "Unreachable");
  }
  const type = response.headers.get("content-type") || "";
  let data = null;
  if (response.status !== 204) {
    data = type.startsWith("application/json") ? await response.json().catch(() => null) : await response.text();
  }
  if (!response.ok) {
    const message = (data && data.error) || `${response.status} ${response.statusText}`;
    const error = new ApiError(response.status, message, data && data.error_code);
    if (response.status === 401 && base && path.startsWith(base)) onSignedOut();
    throw error;
  }
  return data;
}

/// An Admin API call, `path` relative to `groups/{group}/apps/{app}/`.
export function admin(method, path, body) {
  if (!base) throw new ApiError(401, "not signed in", "Unauthorized");
  return request(method, base + path, body);
}

/// Percent-encodes one path segment.
export const seg = encodeURIComponent;
