// Shared by the console's pages: the session's CSRF token and calls to the server's own API.
// Every value from the server is written with textContent, never parsed as HTML.

export function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.getAttribute("content") : "";
}

export async function api(path, options = {}) {
  const headers = new Headers(options.headers || {});
  if (options.method && options.method !== "GET") {
    headers.set("X-CSRF-Token", csrfToken());
  }
  const response = await fetch(path, { ...options, headers, credentials: "same-origin", redirect: "manual" });
  if (response.status === 401) {
    window.location.assign("/console/login?expired=1");
  }
  return response;
}

export function element(tag, text, attributes = {}) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) {
    node.textContent = String(text);
  }
  for (const [name, value] of Object.entries(attributes)) {
    node.setAttribute(name, String(value));
  }
  return node;
}

export function formatNumber(value, digits = 3) {
  if (value === null || value === undefined || Number.isNaN(value)) {
    return "";
  }
  if (Math.abs(value) >= 10 ** digits) {
    return String(Math.round(value));
  }
  return String(Number(Number(value).toPrecision(digits)));
}

export function formatBytes(bytes) {
  if (bytes === null || bytes === undefined) {
    return "";
  }
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}
