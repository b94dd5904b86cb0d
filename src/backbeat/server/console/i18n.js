// The console's strings: locales/<code>.json (same 16 locales as the API's messages).
let strings = {};
let fallback = {};
let current = { code: "en", tag: "en", dir: "ltr" };
let numbers = new Intl.NumberFormat("en");

export async function loadLocale(locale) {
  if (!Object.keys(fallback).length) fallback = await (await fetch("/console/locales/en.json")).json();
  strings = locale.code === "en" ? fallback : await (await fetch(`/console/locales/${locale.code}.json`)).json();
  current = locale;
  numbers = new Intl.NumberFormat(locale.tag, { maximumFractionDigits: 3 });
  document.documentElement.lang = locale.tag;
  document.documentElement.dir = locale.dir;
  for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  document.title = t("app.title");
}

export function t(key, params = {}) {
  const template = strings[key] ?? fallback[key] ?? key;
  return template.replace(/\{(\w+)\}/g, (m, name) => (name in params ? String(params[name]) : m));
}

export function num(value, digits) {
  if (value === null || value === undefined || Number.isNaN(value)) return "–";
  if (digits === undefined) return numbers.format(value);
  return new Intl.NumberFormat(current.tag, { maximumFractionDigits: digits, minimumFractionDigits: digits }).format(value);
}

export function locale() { return current; }
