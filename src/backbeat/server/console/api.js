// The API from the console: the key from sessionStorage as a bearer header (never a
// cookie, never in a URL), the console's language as Accept-Language, errors as
// ApiError carrying the API's own translated message and stable code.
import { locale } from "./i18n.js";

const KEY = "backbeat.key";

export class ApiError extends Error {
  constructor(status, code, message) { super(message); this.status = status; this.code = code; }
}

export const session = {
  get key() { return sessionStorage.getItem(KEY); },
  set key(value) { value ? sessionStorage.setItem(KEY, value) : sessionStorage.removeItem(KEY); },
  me: null,
  allows(scope) { const s = this.me?.scopes || []; return s.includes("admin") || s.includes(scope); },
};

function headers(extra = {}, key = session.key) {
  const out = { "Accept-Language": locale().tag, ...extra };
  if (key) out.Authorization = `Bearer ${key}`;
  return out;
}

async function failure(response) {
  let code = "http_" + response.status, message = null;
  try {
    const body = await response.json();
    code = body?.error?.code ?? code;
    message = body?.error?.message ?? null;
  } catch { /* not JSON */ }
  return new ApiError(response.status, code, message);
}

export async function api(path, { method = "GET", body, key, raw = false, accept202 = false } = {}) {
  let response;
  const extra = body === undefined ? {} : { "Content-Type": "application/json" };
  try {
    response = await fetch(path, {
      method, headers: headers(extra, key), credentials: "omit",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, "network", null);
  }
  if (response.status === 202 && accept202) return { pending: true, body: await response.json() };
  if (!response.ok) throw await failure(response);
  if (raw) return response;
  if (response.status === 204) return null;
  return response.json();
}

// Uploads go through XMLHttpRequest: fetch cannot report upload progress.
export function upload(path, form, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", path);
    xhr.withCredentials = false;
    for (const [name, value] of Object.entries(headers())) xhr.setRequestHeader(name, value);
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) onProgress(e.loaded / e.total); };
    xhr.onerror = () => reject(new ApiError(0, "network", null));
    xhr.onload = () => {
      let body = null;
      try { body = JSON.parse(xhr.responseText); } catch { /* not JSON */ }
      if (xhr.status >= 200 && xhr.status < 300) resolve(body);
      else reject(new ApiError(xhr.status, body?.error?.code ?? "http_" + xhr.status, body?.error?.message ?? null));
    };
    xhr.send(form);
  });
}

// Polling with backoff: call `step` until it returns true; delays grow to `max` ms.
export function poll(step, { first = 1000, max = 15000, factor = 1.6 } = {}) {
  let delay = first, stopped = false, timer = null;
  const run = async () => {
    if (stopped) return;
    let done = false;
    try { done = await step(); } catch { done = false; }
    if (done || stopped) return;
    timer = setTimeout(run, delay);
    delay = Math.min(max, delay * factor);
  };
  timer = setTimeout(run, delay);
  return () => { stopped = true; clearTimeout(timer); };
}
