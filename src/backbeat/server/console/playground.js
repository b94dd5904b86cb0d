// Recommendation playground: seeds (tracks, artists, genres) and target/min/max sliders
// for the tunable attributes; the list follows each change; the answer's seeds block shown.
import { api } from "./api.js";
import { append, clear, debounce, h } from "./dom.js";
import { num, t } from "./i18n.js";

const STEPS = { tempo: 1, loudness: 0.5, popularity: 1, key: 1, mode: 1, time_signature: 1, duration_ms: 1000 };

export async function render(main, { meta, showError, clearError }) {
  const page = await api("/v1/tracks?limit=50");
  const artists = new Map();
  for (const item of page.items) for (const a of item.artists || []) artists.set(a.id, a.name);
  const results = h("ol", { id: "results" });
  const seedsBlock = h("pre", { class: "json", id: "seeds-block" });
  const model = h("p", { class: "muted", id: "model" });
  const limit = h("input", { type: "number", id: "limit", min: 1, max: 100, value: 10 });
  const genres = h("input", { type: "text", id: "seed-genres", placeholder: "rock, jazz" });
  const trackBoxes = page.items.map((item, i) => h("input", { type: "checkbox", name: "seed-track", value: item.id, checked: i === 0, id: `seed-t-${i}` }));
  const artistBoxes = [...artists].map(([aid], i) => h("input", { type: "checkbox", name: "seed-artist", value: aid, id: `seed-a-${i}` }));
  const update = debounce(() => run(), 200);
  const attributes = meta.tunable.map((attr) => {
    const mode = h("select", { id: `mode-${attr.name}`, "aria-label": t("playground.mode_of", { name: attr.name }) },
      ["off", "target", "min", "max"].map((m) => h("option", { value: m }, t(`playground.${m}`))));
    const step = STEPS[attr.name] ?? 0.01;
    const middle = Math.round(((attr.min + attr.max) / 2) / step) * step;
    const slider = h("input", { type: "range", id: `slider-${attr.name}`, min: attr.min, max: attr.max, step, value: middle, "aria-label": attr.name });
    const shown = h("output", { for: `slider-${attr.name}` }, num(middle));
    slider.addEventListener("input", () => { shown.textContent = num(Number(slider.value)); if (mode.value === "off") mode.value = "target"; update(); });
    mode.addEventListener("change", update);
    return { attr, mode, slider, row: h("div", { class: "attr", "data-attr": attr.name }, h("label", { for: `slider-${attr.name}`, class: "ltr" }, attr.name), mode, slider, shown) };
  });

  const list = (boxes, names) => h("div", { class: "seedlist" }, boxes.map((box, i) => h("label", { for: box.id }, box, " ", names[i])));
  main.append(
    h("h1", {}, t("playground.title")),
    h("div", { class: "grid2" },
      h("section", { class: "card", "aria-labelledby": "seeds-title" },
        h("h2", { id: "seeds-title" }, t("playground.seeds")),
        h("fieldset", {}, h("legend", {}, t("playground.seed_tracks")), list(trackBoxes, page.items.map((i) => i.name))),
        h("fieldset", {}, h("legend", {}, t("playground.seed_artists")), list(artistBoxes, [...artists.values()])),
        h("label", { class: "field", for: "seed-genres" }, h("span", {}, t("playground.seed_genres"))), genres,
        h("label", { class: "field", for: "limit" }, h("span", {}, t("playground.limit"))), limit),
      h("section", { class: "card", "aria-labelledby": "attrs-title" },
        h("h2", { id: "attrs-title" }, t("playground.attributes")),
        attributes.map((a) => a.row))),
    h("section", { "aria-labelledby": "results-title", "aria-live": "polite" },
      h("h2", { id: "results-title" }, t("playground.results")), model, results,
      h("h2", {}, t("playground.seeds_block")), seedsBlock));

  let generation = 0;
  async function run() {
    const params = new URLSearchParams();
    const chosen = (boxes) => boxes.filter((b) => b.checked).map((b) => b.value).join(",");
    if (chosen(trackBoxes)) params.set("seed_tracks", chosen(trackBoxes));
    if (chosen(artistBoxes)) params.set("seed_artists", chosen(artistBoxes));
    if (genres.value.trim()) params.set("seed_genres", genres.value.trim());
    if (![...params.keys()].length) {
      clear(results).append(h("li", { class: "muted" }, t("playground.pick_seed")));
      seedsBlock.textContent = ""; return;
    }
    params.set("limit", limit.value || "10");
    for (const { attr, mode, slider } of attributes) if (mode.value !== "off") params.set(`${mode.value}_${attr.name}`, slider.value);
    const mine = ++generation;
    try {
      const response = await api(`/v1/recommendations?${params}`, { raw: true });
      const body = await response.json();
      if (mine !== generation) return;   // a later change already asked again
      clearError();
      results.dataset.query = params.toString();
      model.textContent = t("playground.model", { model: response.headers.get("X-Backbeat-Model") || "?" });
      append(clear(results), body.tracks.length ? body.tracks.map((tr) => h("li", { "data-id": tr.id },
        h("a", { href: `#/tracks/${encodeURIComponent(tr.id)}` }, tr.name), " — ", (tr.artists || []).map((a) => a.name).join(", ")))
        : h("li", { class: "muted" }, t("common.none")));
      seedsBlock.textContent = JSON.stringify(body.seeds, null, 2);
    } catch (error) {
      if (mine === generation) showError(error);
    }
  }
  for (const box of [...trackBoxes, ...artistBoxes]) box.addEventListener("change", update);
  genres.addEventListener("input", update);
  limit.addEventListener("input", update);
  await run();
  return null;
}
