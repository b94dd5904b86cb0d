"""A self-contained HTML report (inline SVG, no script, no network) or its JSON.

KPI cards; DAU/WAU/MAU over the period; the cohort retention heat map; the MRR bridge
of the period's last month; a 30-day forecast fan chart (revenue when there are
payments, else DAU) over the last 90 days of history; behavioural segments.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

from backbeat.analytics._forecast import daily_metric, forecast_series
from backbeat.analytics._kpis import Period, compute_kpis
from backbeat.analytics._segments import segment_users
from backbeat.analytics._source import Source

__all__ = ["build_report", "render_html"]

W, H, PAD = 720, 240, 40


def build_report(source: Source, period: Period) -> dict[str, Any]:
    """Every figure the report shows, as JSON-safe data."""
    kpis = compute_kpis(source, period).to_dict()
    metric = "revenue" if source.has("payments") else "dau"
    series = daily_metric(source, metric)
    forecast = forecast_series(series, metric, 30, 0.95, source=source.origin).to_dict()
    history = {d.date().isoformat(): float(v) for d, v in series.iloc[-90:].items()}
    segments = segment_users(
        source, period, segments=["premium", "free"] if source.has("subscriptions") else None
    ).to_dict()
    return {
        "kpis": kpis,
        "forecast": {**forecast, "history": history},
        "segments": segments,
    }


def _scale(values: list[float]) -> tuple[float, float]:
    lo, hi = min(values), max(values)
    return (lo, hi) if hi > lo else (lo - 1, hi + 1)


def _points(xs: Sequence[float], ys: Sequence[float], lo: float, hi: float, n: int) -> str:
    def at(x: float, y: float) -> str:
        px = PAD + (W - 2 * PAD) * x / max(n - 1, 1)
        py = H - PAD - (H - 2 * PAD) * (y - lo) / (hi - lo)
        return f"{px:.1f},{py:.1f}"

    return " ".join(at(x, y) for x, y in zip(xs, ys, strict=True))


def _lines(title: str, series: dict[str, dict[str, float]]) -> str:
    colours = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd"]
    keys = list(next(iter(series.values())))
    values = [v for s in series.values() for v in s.values()]
    lo, hi = _scale(values)
    parts = [f'<svg viewBox="0 0 {W} {H}" role="img" aria-label="{html.escape(title)}">']
    for i, (name, data) in enumerate(series.items()):
        pts = _points(list(range(len(keys))), [data[k] for k in keys], lo, hi, len(keys))
        parts.append(
            f'<polyline fill="none" stroke="{colours[i % 4]}" stroke-width="2" points="{pts}"/>'
        )
        parts.append(
            f'<text x="{PAD + 90 * i}" y="16" fill="{colours[i % 4]}">{html.escape(name)}</text>'
        )
    parts.append(f'<text x="{PAD}" y="{H - 8}">{html.escape(keys[0])}</text>')
    parts.append(f'<text x="{W - PAD - 80}" y="{H - 8}">{html.escape(keys[-1])}</text>')
    parts.append(
        f'<text x="2" y="{PAD}">{hi:,.0f}</text><text x="2" y="{H - PAD}">{lo:,.0f}</text>'
    )
    return "".join(parts) + "</svg>"


def _fan(forecast: dict[str, Any]) -> str:
    history = forecast["history"]
    ahead = forecast["forecast"]
    n = len(history) + len(ahead)
    values = list(history.values()) + [p["lower"] for p in ahead] + [p["upper"] for p in ahead]
    lo, hi = _scale(values)
    xs_h = list(range(len(history)))
    xs_f = list(range(len(history), n))
    past = _points(xs_h, list(history.values()), lo, hi, n)
    mean = _points(xs_f, [p["mean"] for p in ahead], lo, hi, n)
    band = _points(
        xs_f + xs_f[::-1],
        [p["upper"] for p in ahead] + [p["lower"] for p in ahead][::-1],
        lo,
        hi,
        n,
    )
    label = f"{forecast['metric']}: {forecast['model']}, {forecast['confidence']:.0%} interval"
    return (
        f'<svg viewBox="0 0 {W} {H}" role="img" aria-label="{html.escape(label)}">'
        f'<polygon fill="#1f77b4" fill-opacity="0.2" points="{band}"/>'
        f'<polyline fill="none" stroke="#333" stroke-width="1.5" points="{past}"/>'
        f'<polyline fill="none" stroke="#1f77b4" stroke-width="2" points="{mean}"/>'
        f'<text x="{PAD}" y="16">{html.escape(label)}</text>'
        f'<text x="2" y="{PAD}">{hi:,.0f}</text><text x="2" y="{H - PAD}">{lo:,.0f}</text></svg>'
    )


def _heatmap(retention: dict[str, list[float]]) -> str:
    width = max((len(v) for v in retention.values()), default=0)
    head = "".join(f"<th>M{k}</th>" for k in range(width))
    rows = []
    for cohort, shares in retention.items():
        cells = "".join(
            f'<td style="background:rgba(31,119,180,{s:.2f});'
            f'color:{"#fff" if s > 0.55 else "#000"}">{s:.0%}</td>'
            for s in shares
        )
        rows.append(f"<tr><th>{html.escape(cohort)}</th>{cells}</tr>")
    return f'<table class="heat"><tr><th>cohort</th>{head}</tr>{"".join(rows)}</table>'


def _bridge(movements: dict[str, dict[str, float]]) -> str:
    if not movements:
        return "<p>No subscriptions in the source.</p>"
    month = sorted(movements)[-1]
    moves = movements[month]
    peak = max(abs(v) for v in moves.values()) or 1.0
    bars = []
    for i, (name, value) in enumerate(moves.items()):
        height = (H / 2 - PAD) * abs(value) / peak
        y = H / 2 - height if value >= 0 else H / 2
        colour = "#2ca02c" if value >= 0 else "#d62728"
        x = PAD + i * 100
        bars.append(
            f'<rect x="{x}" y="{y:.1f}" width="60" height="{height:.1f}" fill="{colour}"/>'
            f'<text x="{x}" y="{H - 10}">{html.escape(name)}</text>'
            f'<text x="{x}" y="{(y - 4) if value >= 0 else (y + height + 14):.1f}">'
            f"{value:,.0f}</text>"
        )
    return (
        f'<svg viewBox="0 0 {W} {H}" role="img" aria-label="MRR bridge {month}">'
        f'<line x1="{PAD}" x2="{W - PAD}" y1="{H / 2}" y2="{H / 2}" stroke="#999"/>'
        + "".join(bars)
        + f'<text x="{PAD}" y="16">MRR bridge, {html.escape(month)}</text></svg>'
    )


def render_html(report: dict[str, Any]) -> str:
    k = report["kpis"]
    dau = k["dau"]
    money = k["currency"] or ""
    cards = [
        ("Active users", f"{k['active_users']:,}"),
        ("Mean DAU", f"{sum(dau.values()) / len(dau):,.1f}"),
        ("Stickiness (DAU/MAU)", f"{k['stickiness']:.1%}"),
        ("Revenue", f"{k['revenue']:,.2f} {money}" if k["revenue"] is not None else "-"),
        ("ARPU", f"{k['arpu']:,.2f} {money}" if k["arpu"] is not None else "-"),
        ("Conversion", f"{k['conversion']:.1%}" if k["conversion"] is not None else "-"),
    ]
    card_html = "".join(
        f'<div class="card"><div class="label">{html.escape(a)}</div>'
        f'<div class="value">{html.escape(b)}</div></div>'
        for a, b in cards
    )
    segments = "".join(
        f"<tr><td>{html.escape(s['name'])}</td><td>{s['users']:,}</td><td>{s['share']:.0%}</td>"
        f"<td>{html.escape(s['description'])}</td></tr>"
        for s in report["segments"]["segments"]
    )
    active = _lines("DAU, WAU and MAU", {"DAU": k["dau"], "WAU": k["wau"], "MAU": k["mau"]})
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>backbeat report {html.escape(k["period"])}</title>
<style>
body{{font-family:system-ui,sans-serif;margin:2rem;color:#111;max-width:60rem}}
.cards{{display:flex;flex-wrap:wrap;gap:1rem}}
.card{{border:1px solid #ccc;padding:.6rem 1rem;border-radius:6px}}
.label{{font-size:.8rem;color:#444}}.value{{font-size:1.4rem}}
svg{{width:100%;height:auto;border:1px solid #eee;margin:.5rem 0}}svg text{{font-size:11px}}
table{{border-collapse:collapse}}td,th{{padding:.2rem .5rem;border:1px solid #ddd;text-align:right}}
</style></head><body>
<h1>backbeat report, {html.escape(k["period"])}</h1>
<section class="cards">{card_html}</section>
<h2>Active users</h2>{active}
<h2>Cohort retention</h2>{_heatmap(k["retention"])}
<h2>MRR bridge</h2>{_bridge(k["mrr_movements"])}
<h2>Forecast</h2>{_fan(report["forecast"])}
<h2>Segments</h2><table><tr><th>segment</th><th>users</th><th>share</th><th>description</th></tr>{segments}</table>
</body></html>
"""
