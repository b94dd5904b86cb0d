// The console's shell: locale, sign-in, navigation by hash, one view at a time.
import { api, ApiError, session } from "./api.js";
import { clear, h } from "./dom.js";
import { loadLocale, t } from "./i18n.js";
import * as catalogue from "./catalogue.js";
import * as operations from "./operations.js";
import * as playground from "./playground.js";
import * as track from "./track.js";

const main = document.getElementById("main");
const alertBox = document.getElementById("alert");
let meta = { locales: [{ code: "en", tag: "en", dir: "ltr" }], tunable: [], hls_js: false };
let cleanup = null;

export function showError(error) {
  let text;
  if (error instanceof ApiError) {
    text = error.message || (error.status === 0 ? t("error.network") : t("error.generic", { status: error.status }));
    if (error.status === 401) { signOut(text); return; }
  } else {
    text = t("error.generic", { status: String(error?.message ?? error) });
  }
  alertBox.textContent = text;
  alertBox.hidden = false;
}

export function clearError() { alertBox.hidden = true; alertBox.textContent = ""; }

function pickLocale() {
  const saved = sessionStorage.getItem("backbeat.locale");
  const codes = meta.locales.map((l) => l.code);
  if (saved && codes.includes(saved)) return saved;
  for (const tag of navigator.languages || []) {
    const exact = meta.locales.find((l) => l.tag.toLowerCase() === tag.toLowerCase());
    if (exact) return exact.code;
    const base = meta.locales.find((l) => l.tag.split("-")[0] === tag.split("-")[0].toLowerCase());
    if (base) return base.code;
  }
  return "en";
}

async function setLocale(code) {
  const found = meta.locales.find((l) => l.code === code) || meta.locales[0];
  sessionStorage.setItem("backbeat.locale", found.code);
  await loadLocale(found);
  document.getElementById("locale").value = found.code;
  renderWho();
}

function renderWho() {
  const who = document.getElementById("whoami");
  who.textContent = session.me ? t("signin.signed_as", { id: session.me.id, scopes: session.me.scopes.join(", ") }) : "";
}

function signOut(message) {
  session.key = null;
  session.me = null;
  document.getElementById("nav").hidden = true;
  document.getElementById("signout").hidden = true;
  renderWho();
  if (cleanup) { cleanup(); cleanup = null; }
  renderSignIn(message);
}

function renderSignIn(message) {
  clear(main);
  const input = h("input", { type: "password", id: "key", name: "key", autocomplete: "off", required: true, spellcheck: "false" });
  const status = h("p", { id: "signin-error", class: "error", role: "alert" }, message || "");
  const form = h("form", { class: "card signin", "aria-labelledby": "signin-title" },
    h("h1", { id: "signin-title" }, t("signin.title")),
    h("label", { class: "field", for: "key" }, h("span", {}, t("signin.key"))),
    input,
    h("p", { class: "muted" }, t("signin.help")),
    status,
    h("button", { type: "submit" }, t("signin.submit")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    status.textContent = "";
    const key = input.value.trim();
    try {
      session.me = await api("/v1/me", { key });
    } catch (error) {
      status.textContent = error.message || (error.status === 0 ? t("error.network") : t("error.generic", { status: error.status }));
      input.focus();
      return;
    }
    session.key = key;
    input.value = "";
    signedIn();
  });
  main.append(form);
  input.focus();
}

function signedIn() {
  document.getElementById("nav").hidden = false;
  document.getElementById("signout").hidden = false;
  for (const link of document.querySelectorAll("#nav [data-scope]")) link.hidden = !session.allows(link.dataset.scope);
  renderWho();
  if (!location.hash || location.hash === "#/") location.hash = "#/tracks";
  else route();
}

async function route() {
  if (!session.key || !session.me) return;
  clearError();
  if (cleanup) { cleanup(); cleanup = null; }
  const hash = location.hash.replace(/^#/, "") || "/tracks";
  const parts = hash.split("/").filter(Boolean);
  for (const link of document.querySelectorAll("#nav a")) {
    const current = link.getAttribute("href") === "#/" + parts[0];
    if (current) link.setAttribute("aria-current", "page"); else link.removeAttribute("aria-current");
  }
  clear(main);
  const context = { meta, showError, clearError };
  try {
    if (parts[0] === "tracks" && parts[1]) cleanup = await track.render(main, decodeURIComponent(parts[1]), context);
    else if (parts[0] === "playground") cleanup = await playground.render(main, context);
    else if (parts[0] === "operations") cleanup = await operations.render(main, context);
    else cleanup = await catalogue.render(main, context);
  } catch (error) {
    showError(error);
  }
  main.focus({ preventScroll: true });
}

async function boot() {
  try {
    meta = await (await fetch("/console/meta.json")).json();
  } catch { /* the defaults above: English only */ }
  const select = document.getElementById("locale");
  for (const l of meta.locales) select.append(h("option", { value: l.code, lang: l.tag }, new Intl.DisplayNames([l.tag], { type: "language" }).of(l.tag) || l.code));
  select.addEventListener("change", async () => { await setLocale(select.value); if (session.me) route(); else renderSignIn(); });
  await setLocale(pickLocale());
  document.getElementById("signout").addEventListener("click", () => signOut());
  window.addEventListener("hashchange", route);
  window.addEventListener("unhandledrejection", (event) => showError(event.reason));
  if (session.key) {
    try {
      session.me = await api("/v1/me");
      signedIn();
      return;
    } catch (error) {
      session.key = null;
      renderSignIn(error.message);
      return;
    }
  }
  renderSignIn();
}

boot();
