"""The generated dashboard reads only series and recording rules that exist."""

from __future__ import annotations

import re

from backbeat.monitoring import DEFAULT_SLOS, grafana_dashboard, prometheus_rules


def test_every_dashboard_query_names_a_rule_or_a_service_series() -> None:
    records = {
        rule["record"]
        for group in prometheus_rules(DEFAULT_SLOS)["groups"]
        for rule in group["rules"]
        if "record" in rule
    }
    dashboard = grafana_dashboard(DEFAULT_SLOS)
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    used = {name for e in exprs for name in re.findall(r"backbeat:[a-z_:0-9]+", e)}
    assert used
    assert used <= records
    series = {name for e in exprs for name in re.findall(r"\bbackbeat_[a-z_]+", e)}
    from backbeat.monitoring import ServiceMetrics

    exported = ServiceMetrics().exposition().decode()
    known = {n.removesuffix("_bucket").removesuffix("_count") for n in series}
    for name in known:
        assert (
            f"# TYPE {name}" in exported or f"# TYPE {name.removesuffix('_total')}" in exported
        ), name
