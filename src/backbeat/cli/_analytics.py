"""``backbeat analytics synthetic|kpis``: generated data with planted truth, exact KPIs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

__all__ = ["analytics_app"]

analytics_app = typer.Typer(
    help=(
        "Business analytics over events, subscriptions and payments (CSV/Parquet folders "
        "or the service database)."
    ),
    no_args_is_help=True,
)


_SOURCE_HELP = (
    "A folder with events.csv|parquet (and subscriptions, payments), a database URL, or "
    "'database' for the service's own (DATABASE_URL)."
)


def _resolve(source: str) -> str:
    if source == "database":
        from backbeat.settings import Settings

        return Settings.from_env().database_url
    return source


def _open(source: str) -> Any:
    from backbeat.analytics import open_any

    return open_any(_resolve(source))


@analytics_app.command("synthetic")
def synthetic(
    users: Annotated[int, typer.Option(min=1, help="Users to simulate.")] = 10_000,
    days: Annotated[int, typer.Option(min=1, max=3650, help="Days of history.")] = 365,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same files).")] = 0,
    out: Annotated[Path, typer.Option(help="Folder to write into.")] = Path("analytics-data"),
    file_format: Annotated[str, typer.Option("--format", help="parquet or csv.")] = "parquet",
) -> None:
    """Write events, subscriptions, payments and truth.json with planted drivers."""
    from backbeat.analytics import generate

    if file_format not in ("parquet", "csv"):
        raise typer.BadParameter("parquet or csv", param_hint="--format")
    frames = generate(users, days, seed, out, file_format=file_format)
    typer.echo(
        f"wrote {out}: {len(frames['events']):,} events, {len(frames['subscriptions']):,} "
        f"subscriptions, {len(frames['payments']):,} payments (seed {seed})"
    )


@analytics_app.command("import")
def import_files(
    source: Annotated[
        Path, typer.Option(help="Folder with events.csv|parquet (and subscriptions, payments).")
    ],
) -> None:
    """Load checked files into the service database (DATABASE_URL): listening events as plays,
    subscriptions and payments beside those from /v1/billing/events."""
    from backbeat.analytics import database_rows, load_frames
    from backbeat.cli._common import run_with_catalogue

    rows = database_rows(load_frames(source))
    events, subs, pays = rows["events"], rows["subscriptions"], rows["payments"]

    async def work(catalogue: Any) -> tuple[int, int]:
        result: tuple[int, int] = await catalogue.billing.import_rows(subs, pays)
        for start in range(0, len(events), 50_000):
            await catalogue.events.add(events[start : start + 50_000])
        return result

    n_subs, n_pays = run_with_catalogue(work, audit=("analytics.import", str(source)))
    typer.echo(
        f"imported {len(events):,} events, {n_subs:,} subscriptions, {n_pays:,} payments "
        f"from {source}"
    )


@analytics_app.command("kpis")
def kpis(
    source: Annotated[str, typer.Option(help=_SOURCE_HELP)],
    period: Annotated[
        str,
        typer.Option(
            help="YYYY-MM-DD..YYYY-MM-DD, or last_N_days (ending on the data's last day)."
        ),
    ] = "last_30_days",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """DAU/WAU/MAU, stickiness, sessions, listening time, MRR, ARPU, retention."""
    from backbeat.analytics import compute_kpis, parse_period

    data = _open(source)
    last = data.tables["events"].timestamp.max().to_pyarrow().as_py()
    chosen = parse_period(period, today=last.date() if last is not None else None)
    result = compute_kpis(data, chosen).to_dict()
    if as_json:
        typer.echo(json.dumps(result))
        return
    dau = result["dau"]
    typer.echo(f"period {result['period']}: {result['active_users']:,} active users")
    typer.echo(
        f"  mean DAU {sum(dau.values()) / len(dau):,.1f}, stickiness {result['stickiness']:.3f}"
    )
    if result["revenue"] is not None:
        typer.echo(
            f"  revenue {result['revenue']:,.2f} {result['currency']}, ARPU {result['arpu']}, "
            f"ARPPU {result['arppu']}"
        )
    for month, value in result["mrr"].items():
        typer.echo(f"  MRR {month}: {value:,.2f}")


@analytics_app.command("forecast")
def forecast(
    source: Annotated[str, typer.Option(help=_SOURCE_HELP)],
    metric: Annotated[str, typer.Option(help="revenue, dau or listening_hours.")] = "revenue",
    horizon_days: Annotated[int, typer.Option(min=1, max=730, help="Days ahead.")] = 90,
    confidence: Annotated[float, typer.Option(min=0.5, max=0.999, help="Interval level.")] = 0.95,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """A daily forecast with intervals; the model chosen by rolling-origin backtest."""
    from backbeat.analytics import daily_metric, forecast_series

    data = _open(source)
    result = forecast_series(
        daily_metric(data, metric), metric, horizon_days, confidence, source=data.origin
    ).to_dict()
    if as_json:
        typer.echo(json.dumps(result))
        return
    chosen = result["backtest"][result["model"]]
    typer.echo(
        f"{metric}: {result['model']} (backtest MASE {chosen['mase']}, "
        f"{confidence:.0%} interval coverage {chosen['coverage']:.0%})"
    )
    for point in result["forecast"]:
        typer.echo(
            f"  {point['date']}  {point['mean']:.2f}  [{point['lower']:.2f}, {point['upper']:.2f}]"
        )


@analytics_app.command("churn")
def churn(
    source: Annotated[str, typer.Option(help=_SOURCE_HELP)],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Churn prediction on a time split: the model's AUC beside a recency/frequency baseline."""
    from backbeat.analytics import churn_report

    report = churn_report(_open(source)).to_dict()
    if as_json:
        typer.echo(json.dumps(report))
        return
    typer.echo(
        f"AUC {report['auc']:.3f} (baseline {report['baseline_auc']:.3f}), Brier "
        f"{report['brier']:.3f}; trained at {report['train_cutoff']}, tested at "
        f"{report['test_cutoff']} on {report['test_users']:,} users"
    )
    for name, value in report["feature_importance"].items():
        typer.echo(f"  {name:16s} {value:+.4f}")


@analytics_app.command("ltv")
def ltv(
    source: Annotated[str, typer.Option(help=_SOURCE_HELP)],
    horizon_weeks: Annotated[float, typer.Option(min=1, max=520, help="Weeks ahead.")] = 52,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Lifetime value of paying customers: BG/NBD and Gamma-Gamma fitted on the charges."""
    import anyio

    from backbeat.analytics import create_business_analytics

    report = anyio.run(
        create_business_analytics(_resolve(source)).lifetime_value, horizon_weeks
    ).to_dict()
    if as_json:
        typer.echo(json.dumps(report))
        return
    typer.echo(
        f"{report['customers']:,} paying customers, mean value over {horizon_weeks:g} weeks "
        f"{report['mean_lifetime_value']:.2f}; BG/NBD {report['bg_nbd']}"
    )


@analytics_app.command("segments")
def segments(
    source: Annotated[str, typer.Option(help=_SOURCE_HELP)],
    period: Annotated[
        str, typer.Option(help="YYYY-MM-DD..YYYY-MM-DD or last_N_days.")
    ] = "last_30_days",
    by_plan: Annotated[bool, typer.Option(help="Cluster premium and free users apart.")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Behavioural segments (k-means, k by silhouette), each described in words."""
    import anyio

    from backbeat.analytics import create_business_analytics

    analytics = create_business_analytics(_resolve(source))
    plans = ["premium", "free"] if by_plan else None
    report = anyio.run(lambda: analytics.analyze_user_behavior(plans, True, period)).to_dict()
    if as_json:
        typer.echo(json.dumps(report))
        return
    for segment in report["segments"]:
        typer.echo(f"{segment['name']:12s} {segment['users']:7,d} users  {segment['description']}")


@analytics_app.command("report")
def report(
    source: Annotated[str, typer.Option(help=_SOURCE_HELP)],
    period: Annotated[
        str, typer.Option(help="YYYY-MM-DD..YYYY-MM-DD or last_N_days.")
    ] = "last_30_days",
    out: Annotated[Path, typer.Option(help="File to write.")] = Path("report.html"),
    output_format: Annotated[str, typer.Option("--format", help="html or json.")] = "html",
) -> None:
    """KPIs, cohort heat map, MRR bridge, forecast fan chart and segments in one file."""
    from backbeat.analytics import build_report, parse_period, render_html

    if output_format not in ("html", "json"):
        raise typer.BadParameter("html or json", param_hint="--format")
    data = _open(source)
    last = data.tables["events"].timestamp.max().to_pyarrow().as_py()
    chosen = parse_period(period, today=last.date() if last is not None else None)
    built = build_report(data, chosen)
    text = json.dumps(built) if output_format == "json" else render_html(built)
    out.write_text(text, encoding="utf-8")
    typer.echo(f"wrote {out}")
