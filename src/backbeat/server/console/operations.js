// Operations (admin scope): backends, queue and failed jobs (retry), API keys (create,
// revoke; a new key shown once), audit verification, SLOs and alerts, privacy requests.
import { api, ApiError, session } from "./api.js";
import { clear, h } from "./dom.js";
import { num, t } from "./i18n.js";
import { statusBadge } from "./catalogue.js";

export async function render(main, { showError }) {
  main.append(h("h1", {}, t("ops.title")));
  if (!session.allows("admin")) { main.append(h("p", { class: "notice" }, t("ops.needs_admin"))); return null; }
  const sections = {
    health: panel("ops-health", t("ops.health")),
    queue: panel("ops-queue", t("ops.queue")),
    keys: panel("ops-keys", t("ops.keys")),
    audit: panel("ops-audit", t("ops.audit")),
    slo: panel("ops-slo", t("ops.slo")),
    alerts: panel("ops-alerts", t("ops.alerts")),
    privacy: panel("ops-privacy", t("ops.privacy")),
  };
  main.append(h("div", { class: "grid2" }, Object.values(sections).map((p) => p.section)));
  const guard = (fill) => async (p) => {
    try { await fill(p); } catch (error) {
      clear(p.body).append(h("p", { class: "error" }, error.message || (error.status === 0 ? t("error.network") : t("error.generic", { status: error.status }))));
    }
  };
  const fills = [
    guard(health)(sections.health), guard(queue)(sections.queue), guard(keys)(sections.keys),
    guard(audit)(sections.audit), guard(slo)(sections.slo), guard(alerts)(sections.alerts), guard(privacy)(sections.privacy),
  ];
  await Promise.all(fills);
  return null;

  async function queue(p) {
    const jobs = await api("/v1/admin/jobs");
    const rows = jobs.items.map((job) => h("tr", { "data-id": job.track_id },
      h("td", {}, h("a", { href: `#/tracks/${encodeURIComponent(job.track_id)}` }, job.name || job.track_id)),
      h("td", { class: "ltr" }, job.error_code || ""),
      h("td", {}, h("button", { type: "button", class: "secondary", onclick: async () => {
        try { await api(`/v1/admin/jobs/${encodeURIComponent(job.track_id)}/retry`, { method: "POST" }); await guard(queue)(p); }
        catch (error) { showError(error); }
      } }, t("common.retry")))));
    clear(p.body).append(
      h("p", {}, statusBadge("queued"), " ", num(jobs.queued), "  ", statusBadge("running"), " ", num(jobs.running), "  ", statusBadge("failed"), " ", num(jobs.failed)),
      h("h3", {}, t("ops.failed_jobs")),
      rows.length ? h("table", {}, h("tbody", {}, rows)) : h("p", { class: "muted" }, t("common.none")));
  }

  async function keys(p) {
    const list = await api("/v1/admin/keys");
    const name = h("input", { type: "text", id: "new-key-name", required: true, maxlength: 100 });
    const boxes = ["read", "write", "billing", "admin"].map((scope) => h("input", { type: "checkbox", value: scope, id: `scope-${scope}`, checked: scope === "read" }));
    const shown = h("div", { id: "new-key", "aria-live": "polite" });
    const form = h("form", { class: "row", id: "key-form" },
      h("label", { class: "field" }, h("span", {}, t("ops.key_name")), name),
      h("fieldset", {}, h("legend", {}, t("ops.scopes")), boxes.map((b) => h("label", { for: b.id }, b, " ", b.value, " "))),
      h("button", { type: "submit" }, t("ops.create")));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      try {
        const created = await api("/v1/admin/keys", { method: "POST", body: { name: name.value.trim(), scopes: boxes.filter((b) => b.checked).map((b) => b.value) } });
        await guard(keys)(p);
        p.body.prepend(h("div", { id: "new-key", role: "status" }, h("p", {}, t("ops.key_once")), h("p", { class: "secret ltr", id: "new-key-value" }, created.key)));
      } catch (error) { showError(error); }
    });
    const rows = list.items.map((key) => h("tr", { "data-id": key.id },
      h("td", { class: "ltr" }, key.id), h("td", {}, key.name), h("td", { class: "ltr" }, key.scopes.join(", ")),
      h("td", { "data-state": key.revoked_at ? "revoked" : "active" }, key.revoked_at ? t("ops.revoked") : t("ops.active")),
      h("td", {}, key.revoked_at || key.id === session.me.id ? "" : h("button", { type: "button", class: "danger", "data-revoke": key.id, onclick: async () => {
        if (!window.confirm(t("ops.confirm_revoke", { id: key.id }))) return;
        try { await api(`/v1/admin/keys/${encodeURIComponent(key.id)}`, { method: "DELETE" }); await guard(keys)(p); }
        catch (error) { showError(error); }
      } }, t("ops.revoke")))));
    clear(p.body).append(shown, form, h("table", { id: "keys" }, h("tbody", {}, rows)));
  }

  async function audit(p) {
    clear(p.body).append(h("p", { class: "muted" }, t("common.loading")));
    const report = await api("/v1/admin/audit");
    const events = report.chains.reduce((n, c) => n + c.events, 0);
    const broken = report.chains.find((c) => !c.ok);
    clear(p.body).append(h("p", { id: "audit-status", "data-ok": String(report.ok), class: report.ok ? "" : "error" },
      report.ok ? t("ops.audit_ok", { events: num(events), chains: num(report.chains.length) })
        : t("ops.audit_broken", { chain: broken.chain, seq: broken.bad_seq, reason: broken.reason })));
  }

  async function slo(p) {
    const report = await api("/v1/admin/slo");
    const rows = report.slos.map((o) => h("tr", {}, h("td", { class: "ltr" }, o.name), h("td", { class: "num" }, num(o.objective * 100, 2) + " %"),
      h("td", { class: "num" }, o.budget_remaining === null ? "–" : num(o.budget_remaining * 100, 1) + " %")));
    clear(p.body).append(rows.length ? h("table", {}, h("thead", {}, h("tr", {}, h("th", {}, t("ops.slo_name")), h("th", {}, t("ops.slo_objective")), h("th", {}, t("ops.slo_budget")))), h("tbody", {}, rows)) : h("p", { class: "muted" }, t("common.none")));
  }

  async function alerts(p) {
    const report = await api("/v1/admin/alerts");
    const rows = report.alerts.map((a) => h("li", {}, h("strong", { class: "ltr" }, a.labels.alertname || a.fingerprint), " ", a.labels.severity || "", " · ", a.status, a.acknowledged ? " · ✓" : ""));
    clear(p.body).append(rows.length ? h("ul", {}, rows) : h("p", { class: "muted" }, t("ops.no_alerts")));
  }

  async function privacy(p) {
    let report;
    try { report = await api("/v1/privacy/requests"); } catch (error) {
      if (error instanceof ApiError && (error.status === 404 || error.status === 503)) { clear(p.body).append(h("p", { class: "muted" }, t("ops.unavailable"))); return; }
      throw error;
    }
    const rows = report.requests.map((r) => h("tr", {}, h("td", { class: "ltr" }, r.id), h("td", {}, r.type), h("td", {}, r.status), h("td", { class: "ltr" }, (r.due_at || "").slice(0, 10))));
    clear(p.body).append(rows.length ? h("table", {}, h("tbody", {}, rows)) : h("p", { class: "muted" }, t("common.none")));
  }

  async function health(p) {
    let body;
    const response = await fetch("/health", { credentials: "omit" });
    body = await response.json();
    const rows = Object.values(body.backends || {}).map((b) => h("tr", { "data-backend": b.name },
      h("td", {}, b.name), h("td", {}, h("span", { class: `status ${b.status === "ok" ? "done" : "failed"}` }, b.status === "ok" ? t("ops.up") : t("ops.down"))),
      h("td", { class: "num" }, b.latency_ms === null ? "–" : `${num(b.latency_ms, 1)} ms`)));
    const workers = body.analysis ? body.analysis.workers.length : 0;
    clear(p.body).append(h("table", {}, h("tbody", {}, rows)), h("p", { class: "muted" }, t("ops.workers", { n: num(workers) })));
  }
}

function panel(id, title) {
  const body = h("div", {}, h("p", { class: "muted" }, t("common.loading")));
  const section = h("section", { class: "card", id, "aria-labelledby": `${id}-title` }, h("h2", { id: `${id}-title` }, title), body);
  return { section, body };
}
