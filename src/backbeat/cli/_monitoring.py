"""``backbeat monitoring rules|detect``: SLO rules for Prometheus, anomalies in a series.

``rules --out DIR`` writes ``backbeat-slo.rules.yml`` (recording + burn-rate alerting
rules), ``alertmanager.yml`` (receivers, follow-the-sun routes, inhibition) and
``grafana-dashboard.json`` from ``--config`` (default ``BACKBEAT_MONITORING_FILE``, else
the built-in SLOs and an example routing). ``detect SERIES.csv`` runs the default
detector over a ``timestamp,value`` CSV and prints the anomalies.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

__all__ = ["monitoring_app"]

monitoring_app = typer.Typer(
    help="SLO rules for Prometheus/Alertmanager/Grafana, and anomaly detection on series.",
    no_args_is_help=True,
)


def _config(path: Path | None) -> tuple[Any, Any, str]:
    from backbeat.monitoring import load_config, parse_routing, parse_slos
    from backbeat.settings import Settings

    if path is None:
        path = Settings.from_env().monitoring_file
    raw: dict[str, Any] = load_config(path) if path is not None else {}
    source = str(path) if path is not None else "<defaults>"
    return parse_slos(raw or None, source=source), parse_routing(raw, source=source), source


@monitoring_app.command("rules")
def rules(
    out: Annotated[Path, typer.Option("--out", help="Directory to write the files into.")],
    config: Annotated[
        Path | None,
        typer.Option(help="Monitoring file (YAML/JSON); default BACKBEAT_MONITORING_FILE."),
    ] = None,
) -> None:
    """Write Prometheus rules, an Alertmanager configuration and a Grafana dashboard."""
    from backbeat.monitoring import write_rules

    slos, routing, source = _config(config)
    for path in write_rules(out, slos, routing):
        typer.echo(f"wrote {path}")
    if not routing.receivers:
        typer.echo(
            f"{out / 'alertmanager.yml'}: an example routing (no receivers in {source}); "
            "replace its URLs and keys with yours"
        )


@monitoring_app.command("detect")
def detect(
    series: Annotated[Path, typer.Argument(help="CSV with columns timestamp,value.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    threshold: Annotated[
        float | None,
        typer.Option(min=0.0, max=1.0, help="Score from which a point is an anomaly."),
    ] = None,
) -> None:
    """Anomalies in a series, scored by the default streaming detector."""
    from backbeat.monitoring import DEFAULT_THRESHOLD, AnomalyDetector, read_series, score_series

    data = read_series(series)
    scores = score_series(AnomalyDetector(), data.values, data.timestamps)
    cut = DEFAULT_THRESHOLD if threshold is None else threshold
    found = [
        {"timestamp": data.labels[i], "score": round(float(scores[i]), 4)}
        for i in range(len(data))
        if scores[i] >= cut
    ]
    if as_json:
        typer.echo(json.dumps({"anomalies": found, "points": len(data), "threshold": cut}))
        return
    typer.echo(f"{len(found)} anomalies in {len(data)} points (threshold {cut:g})")
    for item in found:
        typer.echo(f"{item['timestamp']}  score {item['score']:.3f}")
