"""``backbeat analytics synthetic|kpis``: generated data with planted truth, exact KPIs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

__all__ = ["analytics_app"]

analytics_app = typer.Typer(
    help="Business analytics over events, subscriptions and payments (CSV/Parquet folders).",
    no_args_is_help=True,
)


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


@analytics_app.command("kpis")
def kpis(
    source: Annotated[Path, typer.Option(help="Folder with events.csv|parquet (and the others).")],
    period: Annotated[
        str,
        typer.Option(
            help="YYYY-MM-DD..YYYY-MM-DD, or last_N_days (ending on the data's last day)."
        ),
    ] = "last_30_days",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """DAU/WAU/MAU, stickiness, sessions, listening time, MRR, ARPU, retention."""
    from backbeat.analytics import compute_kpis, open_source, parse_period

    data = open_source(source)
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
