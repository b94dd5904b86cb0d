// The catalogue: paged, searchable list with analysis status (refreshed with backoff
// while anything is queued or running), and uploads by drag-and-drop with progress.
import { api, poll, session, upload } from "./api.js";
import { clear, debounce, h } from "./dom.js";
import { num, t } from "./i18n.js";

const PAGE = 20;
const PITCHES = ["C", "C♯/D♭", "D", "D♯/E♭", "E", "F", "F♯/G♭", "G", "G♯/A♭", "A", "A♯/B♭", "B"];

export function keyName(key, mode) {
  if (key === null || key === undefined || key < 0) return "–";
  return `${PITCHES[key]} ${mode === 1 ? t("mode.major") : mode === 0 ? t("mode.minor") : ""}`.trim();
}

export function statusBadge(status) {
  return h("span", { class: `status ${status}`, "data-status": status }, t(`status.${status}`));
}

// Spotify-shaped IDs for the user's own catalogue: random for a new track; for an
// artist, derived from the name, so tracks uploaded under one name share their artist.
const ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const base62 = (bytes) => Array.from(bytes.slice(0, 22), (b) => ALPHABET[b % 62]).join("");
function newId() { return base62(crypto.getRandomValues(new Uint8Array(22))); }
function artistId(name) {
  // Not a secret, only stable: FNV-1a over the name, re-seeded per byte (crypto.subtle
  // would need a secure context, and the console may be served over plain HTTP).
  const bytes = new Uint8Array(22);
  for (let i = 0; i < bytes.length; i++) {
    let hash = 0x811c9dc5 ^ (i * 0x9e3779b1);
    for (const ch of "backbeat artist:" + name) hash = Math.imul(hash ^ ch.codePointAt(0), 0x01000193);
    bytes[i] = (hash >>> 24) ^ (hash & 0xff);
  }
  return base62(bytes);
}

export async function render(main, { showError, clearError }) {
  let offset = 0;
  let query = "";
  let stopPolling = null;
  const search = h("input", { type: "search", id: "search", "aria-label": t("catalogue.search"), placeholder: t("catalogue.search") });
  const tbody = h("tbody");
  const pager = h("div", { class: "pager" });
  const summary = h("p", { class: "muted", role: "status", "aria-live": "polite" });
  const table = h("table", { id: "tracks" },
    h("caption", { class: "muted" }, t("catalogue.title")),
    h("thead", {}, h("tr", {}, ["name", "artist", "isrc", "tempo", "key", "status"].map((c) => h("th", { scope: "col" }, t(`catalogue.col.${c}`))))),
    tbody);
  main.append(h("h1", {}, t("catalogue.title")));
  if (session.allows("write")) main.append(uploader(() => refresh(), showError, clearError));
  main.append(h("label", { class: "field" }, search), summary, table, pager);

  async function refresh() {
    const params = new URLSearchParams({ limit: PAGE, offset, q: query });
    const page = await api(`/v1/tracks?${params}`);
    clear(tbody);
    for (const item of page.items) {
      const features = item.audio_features || {};
      tbody.append(h("tr", { "data-id": item.id },
        h("td", {}, h("a", { href: `#/tracks/${encodeURIComponent(item.id)}` }, item.name)),
        h("td", {}, (item.artists || []).map((a) => a.name).join(", ")),
        h("td", { class: "ltr" }, item.external_ids?.isrc || ""),
        h("td", { class: "num" }, features.tempo ? num(features.tempo, 1) : "–"),
        h("td", {}, keyName(features.key, features.mode)),
        h("td", {}, statusBadge(item.analysis))));
    }
    if (!page.items.length) tbody.append(h("tr", {}, h("td", { colspan: 6, class: "muted" }, t("common.none"))));
    summary.textContent = page.total ? t("common.page", { from: num(offset + 1), to: num(offset + page.items.length), total: num(page.total) }) : "";
    clear(pager).append(
      h("button", { type: "button", class: "secondary", disabled: !page.previous, onclick: () => { offset = Math.max(0, offset - PAGE); load(); } }, t("common.previous")),
      h("button", { type: "button", class: "secondary", disabled: !page.next, onclick: () => { offset += PAGE; load(); } }, t("common.next")));
    return !page.items.some((i) => i.analysis === "queued" || i.analysis === "running");
  }

  async function load() {
    if (stopPolling) stopPolling();
    try {
      const settled = await refresh();
      if (!settled) stopPolling = poll(refresh, { first: 1000, max: 10000 });
    } catch (error) { showError(error); }
  }

  search.addEventListener("input", debounce(() => { query = search.value.trim(); offset = 0; load(); }, 250));
  await load();
  return () => { if (stopPolling) stopPolling(); };

  function uploader(done, showError, clearError) {
    const input = h("input", { type: "file", id: "upload-input", accept: "audio/*", multiple: true, hidden: true });
    const artist = h("input", { type: "text", id: "upload-artist", value: t("upload.default_artist") });
    const list = h("ul", { class: "uploads", "aria-live": "polite" });
    const zone = h("div", { class: "drop", id: "drop" },
      h("p", { id: "drop-help" }, t("upload.drop")),
      h("button", { type: "button", class: "secondary", id: "choose", "aria-describedby": "drop-help", onclick: () => input.click() }, t("upload.choose")),
      input);
    const send = async (files) => {
      clearError();
      for (const file of files) {
        const bar = h("progress", { max: 1, value: 0, "aria-label": t("upload.progress", { name: file.name }) });
        const line = h("span", {}, t("upload.progress", { name: file.name }));
        list.append(h("li", {}, line, bar));
        const name = file.name.replace(/\.[^.]+$/, "") || file.name;
        const artistName = artist.value.trim() || t("upload.default_artist");
        const metadata = { id: newId(), name, artists: [{ id: artistId(artistName), name: artistName }] };
        const form = new FormData();
        form.append("metadata", JSON.stringify(metadata));
        form.append("audio", file, file.name);
        try {
          await upload("/v1/tracks", form, (p) => { bar.value = p; });
          bar.value = 1;
          line.textContent = t("upload.done", { name: file.name });
          await done();
          load();
        } catch (error) {
          line.textContent = `${file.name}: ${error.message || t("error.generic", { status: error.status })}`;
          line.className = "error";
          bar.remove();
          showError(error);
        }
      }
    };
    input.addEventListener("change", () => { send([...input.files]); input.value = ""; });
    zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
    zone.addEventListener("dragleave", () => zone.classList.remove("over"));
    zone.addEventListener("drop", (e) => { e.preventDefault(); zone.classList.remove("over"); send([...e.dataTransfer.files]); });
    return h("section", { class: "card", "aria-labelledby": "upload-title" },
      h("h2", { id: "upload-title" }, t("upload.title")),
      h("label", { class: "field", for: "upload-artist" }, h("span", {}, t("upload.artist"))), artist,
      zone, list);
  }
}
