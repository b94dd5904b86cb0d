// A track: waveform with beats, bars and sections; loudness and chroma over time; the
// audio features with confidences and plain-word meanings; playback with a cursor.
import { api, poll } from "./api.js";
import { clear, h, s } from "./dom.js";
import { num, t } from "./i18n.js";
import { keyName, statusBadge } from "./catalogue.js";

const WIDTH = 1000;     // drawing units across; the SVG scales to the page
const HEIGHT = 160;
const FIELDS = ["danceability", "energy", "valence", "acousticness", "instrumentalness", "liveness",
  "speechiness", "loudness", "tempo", "key", "mode", "time_signature", "duration_ms"];
const CONFIDENCE = { tempo: "tempo_confidence", key: "key_confidence", mode: "mode_confidence", time_signature: "time_signature_confidence" };

export async function render(main, id, { meta, showError }) {
  const stops = [];
  const info = await api(`/v1/tracks/${encodeURIComponent(id)}`);
  const state = h("div", { id: "track-state", role: "status", "aria-live": "polite" });
  const body = h("div", { id: "track-body" });
  main.append(
    h("p", {}, h("a", { href: "#/tracks" }, t("track.back"))),
    h("h1", {}, info.name, " ", h("span", { class: "muted" }, "— ", (info.artists || []).map((a) => a.name).join(", "))),
    state, body);
  if (!info.has_audio) { state.append(h("p", { class: "notice" }, t("track.no_audio"))); return null; }

  const fetchAnalysis = async () => {
    try {
      const result = await api(`/v1/audio-analysis/${encodeURIComponent(id)}`, { accept202: true });
      if (result.pending) {
        clear(state).append(h("p", { class: "notice pending", "data-pending": "true" }, statusBadge(result.body.status), " ", t("track.pending")));
        return false;
      }
      clear(state);
      const features = await api(`/v1/audio-features/${encodeURIComponent(id)}`);
      await draw(body, id, result, features, meta, stops, showError);
      return true;
    } catch (error) {
      if (error.code === "audio.analysis_failed") {
        clear(state).append(h("p", { class: "notice error", "data-failed": "true" }, statusBadge("failed"), " ", error.message || t("track.failed")));
        return true;
      }
      throw error;
    }
  };
  if (!(await fetchAnalysis())) stops.push(poll(async () => { try { return await fetchAnalysis(); } catch (e) { showError(e); return true; } }, { first: 1000, max: 15000 }));
  return () => stops.forEach((stop) => stop());
}

async function draw(body, id, analysis, features, meta, stops, showError) {
  const track = analysis.track;
  const duration = track.duration || features.duration_ms / 1000;
  const x = (time) => (time / duration) * WIDTH;
  const wave = await api(`/v1/tracks/${encodeURIComponent(id)}/waveform?points=${WIDTH}`);

  // Waveform (canvas) under an SVG of sections, bars, beats and the play cursor.
  const canvas = h("canvas", { width: WIDTH, height: HEIGHT, "aria-hidden": "true" });
  const g = canvas.getContext("2d");
  g.fillStyle = "#52796f";
  const mid = HEIGHT / 2;
  const columns = wave.min.length;
  for (let i = 0; i < columns; i++) {
    const top = mid - wave.max[i] * mid, bottom = mid - wave.min[i] * mid;
    g.fillRect((i / columns) * WIDTH, top, Math.max(1, WIDTH / columns), Math.max(1, bottom - top));
  }
  const svg = s("svg", { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, preserveAspectRatio: "none", id: "overlay", role: "img",
    "aria-label": t("track.waveform_label", { beats: analysis.beats.length, bars: analysis.bars.length, sections: analysis.sections.length }) });
  for (const section of analysis.sections) {
    svg.append(s("rect", { class: "section", x: x(section.start), y: 0, width: x(section.duration), height: HEIGHT, "data-start": section.start }));
  }
  for (const beat of analysis.beats) {
    svg.append(s("line", { class: "beat", x1: x(beat.start), x2: x(beat.start), y1: HEIGHT * 0.7, y2: HEIGHT, "data-start": beat.start, "vector-effect": "non-scaling-stroke" }));
  }
  for (const bar of analysis.bars) {
    svg.append(s("line", { class: "bar", x1: x(bar.start), x2: x(bar.start), y1: 0, y2: HEIGHT * 0.3, "data-start": bar.start, "vector-effect": "non-scaling-stroke" }));
  }
  const cursor = s("line", { class: "cursor", x1: 0, x2: 0, y1: 0, y2: HEIGHT, "vector-effect": "non-scaling-stroke" });
  svg.append(cursor);
  const waveBox = h("div", { class: "wave", id: "wave", "data-duration": duration }, canvas, svg);

  // Playback: HLS (native, or hls.js when the service has it), else the original file.
  const audio = h("audio", { controls: true, id: "player", preload: "metadata", "aria-label": t("track.play") });
  const source = h("p", { class: "muted", id: "player-source" });
  stops.push(await attachAudio(audio, id, meta, source));
  let frame = 0;
  const tick = () => {
    const at = x(audio.currentTime || 0);
    cursor.setAttribute("x1", at); cursor.setAttribute("x2", at);
    frame = requestAnimationFrame(tick);
  };
  frame = requestAnimationFrame(tick);
  stops.push(() => { cancelAnimationFrame(frame); audio.pause(); });
  svg.addEventListener("click", (event) => {
    const box = svg.getBoundingClientRect();
    audio.currentTime = ((event.clientX - box.left) / box.width) * duration;
  });
  waveBox.tabIndex = 0;
  waveBox.setAttribute("aria-describedby", "wave-keys");
  waveBox.addEventListener("keydown", (event) => {
    if (event.key === "ArrowRight") audio.currentTime = Math.min(duration, audio.currentTime + 5);
    else if (event.key === "ArrowLeft") audio.currentTime = Math.max(0, audio.currentTime - 5);
    else if (event.key === " ") { event.preventDefault(); audio.paused ? audio.play() : audio.pause(); }
    else return;
    event.preventDefault();
  });

  const rows = FIELDS.filter((f) => f in features).map((field) => {
    const value = features[field];
    const shown = field === "key" ? keyName(value, features.mode) : field === "mode" ? (value === 1 ? t("mode.major") : t("mode.minor"))
      : field === "duration_ms" ? `${num(value / 1000, 1)} s` : field === "loudness" ? `${num(value, 1)} dB`
      : field === "tempo" ? `${num(value, 1)} BPM` : field === "time_signature" ? num(value, 0) : num(value, 3);
    const confidence = CONFIDENCE[field] ? num(track[CONFIDENCE[field]], 2) : "–";
    return h("tr", { "data-field": field },
      h("th", { scope: "row", class: "ltr" }, field),
      h("td", { class: "num" }, shown),
      h("td", { class: "num" }, confidence),
      h("td", {}, t(`feature.${field}`)));
  });

  clear(body).append(
    h("section", { "aria-labelledby": "wave-title" },
      h("h2", { id: "wave-title" }, t("track.waveform")),
      h("div", { class: "legend" },
        h("span", {}, h("i", { class: "l-beat" }), t("track.legend.beats", { n: num(analysis.beats.length) })),
        h("span", {}, h("i", { class: "l-bar" }), t("track.legend.bars", { n: num(analysis.bars.length) })),
        h("span", {}, h("i", { class: "l-section" }), t("track.legend.sections", { n: num(analysis.sections.length) }))),
      waveBox,
      h("p", { class: "muted", id: "wave-keys" }, t("track.wave_keys")),
      audio, source),
    h("div", { class: "grid2" },
      h("section", { "aria-labelledby": "loud-title" }, h("h2", { id: "loud-title" }, t("track.loudness")), loudnessPlot(analysis, duration)),
      h("section", { "aria-labelledby": "chroma-title" }, h("h2", { id: "chroma-title" }, t("track.chroma")), chromaPlot(analysis, duration))),
    h("section", { "aria-labelledby": "features-title" },
      h("h2", { id: "features-title" }, t("track.features")),
      h("table", { id: "features" },
        h("thead", {}, h("tr", {}, ["field", "value", "confidence", "meaning"].map((c) => h("th", { scope: "col" }, t(`track.col.${c}`))))),
        h("tbody", {}, rows))));
}

function loudnessPlot(analysis, duration) {
  const W = 500, H = 150, low = -60, high = 0;
  const y = (db) => H - ((Math.max(low, Math.min(high, db)) - low) / (high - low)) * H;
  const points = analysis.segments.map((seg) => `${((seg.start + seg.loudness_max_time) / duration * W).toFixed(1)},${y(seg.loudness_max).toFixed(1)}`);
  const svg = s("svg", { viewBox: `0 0 ${W} ${H + 16}`, class: "plot", role: "img", id: "loudness",
    "aria-label": t("track.loudness_label", { loudness: num(analysis.track.loudness, 1) }) });
  for (const db of [0, -20, -40, -60]) {
    svg.append(s("line", { x1: 0, x2: W, y1: y(db), y2: y(db), stroke: "#c9cfcc" }));
    const label = s("text", { x: 2, y: y(db) - 2, "font-size": 10, fill: "#4a4a4a" }); label.textContent = `${db} dB`; svg.append(label);
  }
  svg.append(s("polyline", { points: points.join(" "), fill: "none", stroke: "#1b4332", "stroke-width": 1.5 }));
  return svg;
}

function chromaPlot(analysis, duration) {
  const W = 500, H = 150, rows = 12;
  const canvas = h("canvas", { width: W, height: H, class: "plot", id: "chroma", role: "img",
    "aria-label": t("track.chroma_label", { key: keyName(analysis.track.key, analysis.track.mode) }) });
  const g = canvas.getContext("2d");
  for (const seg of analysis.segments) {
    const x0 = (seg.start / duration) * W, w = Math.max(1, (seg.duration / duration) * W);
    seg.pitches.forEach((value, pitch) => {
      const shade = Math.round(255 - value * 230);
      g.fillStyle = `rgb(${shade},${Math.round(255 - value * 160)},${shade})`;
      g.fillRect(x0, H - (pitch + 1) * (H / rows), w + 0.5, H / rows);
    });
  }
  return canvas;
}

async function attachAudio(audio, id, meta, source) {
  const signed = await api(`/v1/tracks/${encodeURIComponent(id)}/stream/url?ttl_s=3600`, { method: "POST" });
  const query = signed.url.split("?")[1];
  const original = () => {
    audio.src = `/v1/tracks/${encodeURIComponent(id)}/audio?${query}`;
    source.textContent = t("track.source.file");
    source.dataset.source = "file";
  };
  const packaged = await fetch(signed.url, { credentials: "omit" }).then((r) => r.ok, () => false);
  if (packaged && audio.canPlayType("application/vnd.apple.mpegurl")) {
    audio.src = signed.url;
    source.textContent = t("track.source.hls");
    source.dataset.source = "hls";
    return () => {};
  }
  if (packaged && meta.hls_js) {
    await loadScript("/console/vendor/hls.min.js").catch(() => null);
    if (window.Hls && window.Hls.isSupported()) {
      const hls = new window.Hls();
      hls.on(window.Hls.Events.ERROR, (event, data) => { if (data.fatal) { hls.destroy(); original(); } });
      hls.loadSource(signed.url);
      hls.attachMedia(audio);
      source.textContent = t("track.source.hls");
      source.dataset.source = "hls";
      return () => hls.destroy();
    }
  }
  original();
  return () => {};
}

function loadScript(src) {
  return new Promise((resolve, reject) => {
    if (document.querySelector(`script[src="${src}"]`)) { resolve(); return; }
    const script = document.createElement("script");
    script.src = src;
    script.onload = resolve;
    script.onerror = reject;
    document.head.append(script);
  });
}
