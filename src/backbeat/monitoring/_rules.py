"""Prometheus rules, an Alertmanager configuration and a Grafana dashboard for the SLOs.

``write_rules(out, slos, routing)`` writes:

- ``backbeat-slo.rules.yml``: one recording rule per SLO and window
  (``backbeat:slo_error_ratio:rate<window>{slo=...}``: the bad share of requests over the
  window) and one alerting rule per SLO and severity (``BackbeatSloBurnRate``: any of the
  severity's long/short window pairs over its factor x the budget);
- ``alertmanager.yml``: the receivers, a route tree (every alert to ``always``; pages to
  the shift on duty by ``active_time_intervals``, tickets to ``tickets``; grouped by
  alert and SLO; a page inhibits the ticket of the same SLO);
- ``grafana-dashboard.json``: traffic, errors, latency quantiles, burn rates and budget
  left per SLO, queue, cache, analysis and recommendation panels.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from prometheus_client.utils import floatToGoString

from backbeat.monitoring._routing import Receiver, Routing
from backbeat.monitoring._slo import Slo, format_duration

__all__ = ["alertmanager_config", "grafana_dashboard", "prometheus_rules", "write_rules"]

REQUESTS = "backbeat_http_requests_total"
DURATION = "backbeat_http_request_duration_seconds"
ALERT = "BackbeatSloBurnRate"


def _q(value: str) -> str:
    """A PromQL string literal."""
    return json.dumps(value)


def error_ratio_expr(slo: Slo, window: str) -> str:
    """PromQL for the bad share of ``slo``'s requests over ``window``."""
    routes = f"route=~{_q(slo.routes)}"
    if slo.kind == "availability":
        bad = f'sum(rate({REQUESTS}{{{routes},status=~"5.."}}[{window}]))'
        total = f"sum(rate({REQUESTS}{{{routes}}}[{window}]))"
        return f"{bad} / {total}"
    assert slo.threshold_s is not None
    le = floatToGoString(slo.threshold_s)  # type: ignore[no-untyped-call]
    good = f"sum(rate({DURATION}_bucket{{{routes},le={_q(le)}}}[{window}]))"
    total = f"sum(rate({DURATION}_count{{{routes}}}[{window}]))"
    return f"1 - ({good} / {total})"


def record_name(window: str) -> str:
    return f"backbeat:slo_error_ratio:rate{window}"


def _windows(slo: Slo) -> list[str]:
    seconds = {a.long_s for a in slo.alerts} | {a.short_s for a in slo.alerts}
    seconds.add(slo.window_days * 86400.0)
    return [format_duration(s) for s in sorted(seconds)]


def prometheus_rules(slos: tuple[Slo, ...]) -> dict[str, Any]:
    """The rules file's mapping (``groups``)."""
    groups: list[dict[str, Any]] = []
    for slo in slos:
        records = [
            {
                "record": record_name(w),
                "expr": error_ratio_expr(slo, w),
                "labels": {"slo": slo.name},
            }
            for w in _windows(slo)
        ]
        alerts = []
        for severity in ("page", "ticket"):
            pairs = [a for a in slo.alerts if a.severity == severity]
            if not pairs:
                continue
            terms = []
            for a in pairs:
                limit = f"{a.factor:g} * {slo.budget:.10g}"
                long_w, short_w = format_duration(a.long_s), format_duration(a.short_s)
                sel = f"{{slo={_q(slo.name)}}}"
                terms.append(
                    f"({record_name(long_w)}{sel} > ({limit}) "
                    f"and {record_name(short_w)}{sel} > ({limit}))"
                )
            alerts.append(
                {
                    "alert": ALERT,
                    "expr": " or ".join(terms),
                    "labels": {"severity": severity, "slo": slo.name},
                    "annotations": {
                        "summary": f"SLO {slo.name} is burning its error budget ({severity})",
                        "description": (
                            f"{slo.description or slo.name}: objective {slo.objective:g} over "
                            f"{slo.window_days} days; burn-rate windows "
                            + ", ".join(
                                f"{a.factor:g}x over {format_duration(a.long_s)}"
                                f"/{format_duration(a.short_s)}"
                                for a in pairs
                            )
                            + "."
                        ),
                    },
                }
            )
        groups.append({"name": f"backbeat-slo-{slo.name}", "rules": records + alerts})
    return {"groups": groups}


def _receiver_config(receiver: Receiver) -> dict[str, Any]:
    if receiver.type == "slack":
        slack: dict[str, Any] = {
            "api_url": receiver.url,
            "send_resolved": True,
            "title": "{{ .Status | toUpper }}: {{ .CommonLabels.alertname }} "
            "{{ .CommonLabels.slo }}",
            "text": "{{ range .Alerts }}{{ .Annotations.summary }}\n{{ end }}",
        }
        if receiver.channel:
            slack["channel"] = receiver.channel
        return {"name": receiver.name, "slack_configs": [slack]}
    if receiver.type == "pagerduty":
        return {
            "name": receiver.name,
            "pagerduty_configs": [
                {"routing_key": receiver.routing_key, "url": receiver.url, "send_resolved": True}
            ],
        }
    return {
        "name": receiver.name,
        "webhook_configs": [{"url": receiver.url, "send_resolved": True}],
    }


def alertmanager_config(routing: Routing) -> dict[str, Any]:
    """Alertmanager 0.25's configuration for ``routing`` (an example when it is empty)."""
    if not routing.receivers:
        from backbeat.monitoring._routing import parse_routing

        routing = parse_routing(EXAMPLE_ROUTING, source="<example>")
    esc = routing.escalation
    receivers = [_receiver_config(r) for r in routing.receivers.values()]
    receivers.append({"name": "blackhole"})  # alerts no route claims
    routes: list[dict[str, Any]] = [
        {"receiver": name, "matchers": ['alertname=~".+"'], "continue": True} for name in esc.always
    ]
    time_intervals: list[dict[str, Any]] = []
    if esc.policy == "follow_sun":
        shift_routes = []
        for shift in esc.shifts:
            time_intervals.append(
                {
                    "name": shift.name,
                    "time_intervals": [
                        {"times": [{"start_time": a, "end_time": b} for a, b in shift.ranges()]}
                    ],
                }
            )
            shift_routes.append({"receiver": shift.receiver, "active_time_intervals": [shift.name]})
        routes.append(
            {"matchers": ['severity="page"'], "receiver": "blackhole", "routes": shift_routes}
        )
    elif esc.pager is not None:
        routes.append({"matchers": ['severity="page"'], "receiver": esc.pager})
    if esc.tickets is not None:
        routes.append({"matchers": ['severity="ticket"'], "receiver": esc.tickets})
    config: dict[str, Any] = {
        "global": {"resolve_timeout": "5m"},
        "route": {
            "receiver": "blackhole",
            "group_by": ["alertname", "slo"],
            "group_wait": format_duration(routing.group_wait_s),
            "group_interval": format_duration(routing.group_interval_s),
            "repeat_interval": format_duration(routing.repeat_interval_s),
            "routes": routes,
        },
        "inhibit_rules": [
            {
                "source_matchers": ['severity="page"'],
                "target_matchers": ['severity="ticket"'],
                "equal": ["alertname", "slo"],
            }
        ],
        "receivers": receivers,
    }
    if time_intervals:
        config["time_intervals"] = time_intervals
    return config


#: What ``backbeat monitoring rules`` shows when no receivers are configured: replace the
#: URLs and keys with yours.
EXAMPLE_ROUTING: dict[str, Any] = {
    "receivers": [
        {"name": "oncall-emea", "type": "pagerduty", "routing_key": "REPLACE-WITH-EMEA-KEY"},
        {"name": "oncall-amer", "type": "pagerduty", "routing_key": "REPLACE-WITH-AMER-KEY"},
        {"name": "oncall-apac", "type": "pagerduty", "routing_key": "REPLACE-WITH-APAC-KEY"},
        {
            "name": "team-chat",
            "type": "slack",
            "url": "https://hooks.slack.com/services/REPLACE/WITH/YOURS",
            "channel": "#backbeat-alerts",
        },
        {"name": "audit-webhook", "type": "webhook", "url": "http://127.0.0.1:9095/alerts"},
    ],
    "escalation": {
        "policy": "follow_sun",
        "shifts": [
            {"receiver": "oncall-emea", "from": "07:00", "to": "15:00"},
            {"receiver": "oncall-amer", "from": "15:00", "to": "23:00"},
            {"receiver": "oncall-apac", "from": "23:00", "to": "07:00"},
        ],
        "ack_timeout_minutes": 15,
        "escalate_to": "team-chat",
        "tickets": "team-chat",
        "always": ["audit-webhook"],
    },
}


def _panel(pid: int, title: str, exprs: list[tuple[str, str]], x: int, y: int, unit: str) -> Any:
    return {
        "id": pid,
        "type": "timeseries",
        "title": title,
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "gridPos": {"h": 8, "w": 12, "x": x, "y": y},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "targets": [
            {"refId": chr(ord("A") + i), "expr": expr, "legendFormat": legend}
            for i, (expr, legend) in enumerate(exprs)
        ],
    }


def grafana_dashboard(slos: tuple[Slo, ...]) -> dict[str, Any]:
    """A Grafana dashboard (schema 39) over the service's metrics and the SLO rules."""
    panels = []
    specs: list[tuple[str, list[tuple[str, str]], str]] = [
        (
            "Requests per second by route",
            [(f"sum by (route) (rate({REQUESTS}[5m]))", "{{route}}")],
            "reqps",
        ),
        (
            "Server errors (5xx) share by route",
            [
                (
                    f'sum by (route) (rate({REQUESTS}{{status=~"5.."}}[5m])) / '
                    f"sum by (route) (rate({REQUESTS}[5m]))",
                    "{{route}}",
                )
            ],
            "percentunit",
        ),
        (
            "Latency p50 / p95 / p99",
            [
                (
                    f"histogram_quantile({q}, sum by (le) (rate({DURATION}_bucket[5m])))",
                    f"p{int(q * 100)}",
                )
                for q in (0.5, 0.95, 0.99)
            ],
            "s",
        ),
        (
            "Recommendation ranking p95",
            [
                (
                    "histogram_quantile(0.95, sum by (le) "
                    "(rate(backbeat_recommendation_duration_seconds_bucket[5m])))",
                    "p95",
                )
            ],
            "s",
        ),
        (
            "Analysis queue",
            [
                ("max(backbeat_analysis_queue_depth)", "depth"),
                ("max(backbeat_analysis_oldest_queued_seconds)", "oldest job age (s)"),
            ],
            "short",
        ),
        (
            "Cache hit ratio by level",
            [
                (
                    'sum by (level) (rate(backbeat_cache_requests_total{result="hit"}[5m])) / '
                    "sum by (level) (rate(backbeat_cache_requests_total[5m]))",
                    "{{level}}",
                )
            ],
            "percentunit",
        ),
        (
            "Analysis real-time factor (median)",
            [
                (
                    "histogram_quantile(0.5, sum by (le) "
                    "(rate(backbeat_analysis_realtime_factor_bucket[15m])))",
                    "x real time",
                )
            ],
            "short",
        ),
        (
            "Rate limiter decisions",
            [("sum by (decision) (rate(backbeat_ratelimit_decisions_total[5m]))", "{{decision}}")],
            "reqps",
        ),
    ]
    for slo in slos:
        windows = sorted({a.long_s for a in slo.alerts} | {a.short_s for a in slo.alerts})
        sel = f'{{slo="{slo.name}"}}'
        specs.append(
            (
                f"SLO {slo.name}: burn rate",
                [
                    (
                        f"{record_name(format_duration(w))}{sel} / {slo.budget:.10g}",
                        format_duration(w),
                    )
                    for w in windows
                ],
                "short",
            )
        )
        full = format_duration(slo.window_days * 86400.0)
        specs.append(
            (
                f"SLO {slo.name}: error budget left ({slo.window_days} d)",
                [
                    (
                        f"1 - {record_name(full)}{sel} / {slo.budget:.10g}",
                        "budget left",
                    )
                ],
                "percentunit",
            )
        )
    for i, (title, exprs, unit) in enumerate(specs):
        panels.append(_panel(i + 1, title, exprs, (i % 2) * 12, (i // 2) * 8, unit))
    return {
        "title": "backbeat",
        "uid": "backbeat-service",
        "schemaVersion": 39,
        "version": 1,
        "editable": True,
        "time": {"from": "now-6h", "to": "now"},
        "refresh": "30s",
        "tags": ["backbeat"],
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "type": "datasource",
                    "query": "prometheus",
                    "label": "Prometheus",
                }
            ]
        },
        "panels": panels,
    }


def write_rules(out: Path, slos: tuple[Slo, ...], routing: Routing) -> list[Path]:
    """Write the three files into ``out`` (created); returns their paths."""
    out.mkdir(parents=True, exist_ok=True)
    rules = out / "backbeat-slo.rules.yml"
    rules.write_text(yaml.safe_dump(prometheus_rules(slos), sort_keys=False, width=200))
    manager = out / "alertmanager.yml"
    manager.write_text(yaml.safe_dump(alertmanager_config(routing), sort_keys=False, width=200))
    dashboard = out / "grafana-dashboard.json"
    dashboard.write_text(json.dumps(grafana_dashboard(slos), indent=2) + "\n")
    return [rules, manager, dashboard]
