"""Analytics: KPIs over millions of events on DuckDB (through Ibis) against plain pandas;
forecast fit time and backtest accuracy.

1. Events: N users x random plays over 365 days (numpy, seeded), written to Parquet.
   KPIs for a 90-day period (DAU, rolling WAU/MAU, sessions with the 30-minute rule,
   retention by monthly cohort): ``compute_kpis`` on an in-memory DuckDB holding the
   checked table, against the same KPIs written straightforwardly in pandas (groupby,
   per-day rolling windows over user-day pairs, diff per user). Times exclude loading;
   peak memory (RSS) of each run in its own process. Default 10M events
   (``BENCH_EVENTS`` to change).
2. Forecasts: the generator's daily revenue and DAU (2,000 users, 365 days), fit time of
   the full model choice (4 ETS candidates x 4 backtest origins + refit) and the chosen
   model's backtest MASE and 95% interval coverage, raw and calibrated.
"""

from __future__ import annotations

import datetime as dt
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _table import print_table

START = pd.Timestamp("2025-01-01", tz="UTC")
PERIOD = ("2025-07-01", "2025-09-28")


def _events(n: int, path: Path) -> None:
    rng = np.random.default_rng(0)
    users = max(1000, n // 200)
    uid = rng.integers(0, users, n)
    seconds = rng.integers(0, 365 * 86400, n)
    frame = pd.DataFrame(
        {
            "user_id": np.char.add("u", uid.astype(str)),
            "track_id": np.char.add("t", rng.integers(0, 50_000, n).astype(str)),
            "timestamp": START + pd.to_timedelta(seconds, unit="s"),
            "ms_played": rng.integers(5_000, 300_000, n),
        }
    )
    path.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(path / "events.parquet", index=False)


def _pandas(folder: Path) -> float:
    ev = pd.read_parquet(folder / "events.parquet")
    started = time.perf_counter()
    start, end = (dt.date.fromisoformat(d) for d in PERIOD)
    ev["day"] = ev["timestamp"].dt.date
    inside = ev[(ev["day"] >= start) & (ev["day"] <= end)]
    dau = inside.groupby("day")["user_id"].nunique()
    pairs = ev[(ev["day"] > start - dt.timedelta(days=30)) & (ev["day"] <= end)][["user_id", "day"]]
    pairs = pairs.drop_duplicates()
    days = [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]
    mau = {
        d: pairs.loc[
            (pairs["day"] <= d) & (pairs["day"] > d - dt.timedelta(days=30)), "user_id"
        ].nunique()
        for d in days
    }
    wau = {
        d: pairs.loc[
            (pairs["day"] <= d) & (pairs["day"] > d - dt.timedelta(days=7)), "user_id"
        ].nunique()
        for d in days
    }
    ordered = ev.sort_values(["user_id", "timestamp"])
    gap = ordered.groupby("user_id")["timestamp"].diff().dt.total_seconds()
    starts = ordered[(gap.isna()) | (gap > 1800)]
    sessions = starts[(starts["day"] >= start) & (starts["day"] <= end)].groupby("day").size()
    month = ev["timestamp"].dt.tz_localize(None).dt.to_period("M")
    cohort = month.groupby(ev["user_id"]).transform("min")
    retention = (
        pd.DataFrame({"u": ev["user_id"], "c": cohort, "k": (month - cohort).apply(lambda d: d.n)})
        .drop_duplicates()
        .groupby(["c", "k"])["u"]
        .nunique()
    )
    for result in (dau, mau, wau, sessions, retention):
        assert len(result)
    return time.perf_counter() - started


def _ours(folder: Path) -> float:
    from backbeat.analytics import compute_kpis, open_source, parse_period

    source = open_source(folder)
    started = time.perf_counter()
    compute_kpis(source, parse_period(f"{PERIOD[0]}..{PERIOD[1]}"))
    return time.perf_counter() - started


def _child(which: str, folder: str) -> None:
    seconds = (_ours if which == "ours" else _pandas)(Path(folder))
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{seconds:.2f} {peak_mib:.0f}")


def _run(which: str, folder: Path) -> tuple[float, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", which, str(folder)], capture_output=True, text=True
    )
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-2000:])
    seconds, peak = out.stdout.split()
    return float(seconds), float(peak)


def forecasts() -> None:
    from backbeat.analytics import daily_metric, forecast_series, generate, open_source

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        generate(2000, 365, 1, Path(tmp))
        source = open_source(Path(tmp))
        for metric in ("revenue", "dau"):
            series = daily_metric(source, metric)
            started = time.perf_counter()
            result = forecast_series(series, metric, 30, 0.95)
            seconds = time.perf_counter() - started
            chosen = result.backtest[result.model]
            rows.append(
                [
                    metric,
                    result.model,
                    f"{seconds:.1f}",
                    f"{chosen['mase']:.3f}",
                    f"{chosen['coverage']:.2f}",
                    f"{chosen['calibrated_coverage']:.2f}",
                ]
            )
    print_table(
        "Forecasts, 30 days ahead on 365 days of generated data (4 ETS candidates x 4 origins)",
        ["metric", "chosen", "fit + choice s", "MASE", "raw 95% coverage", "calibrated"],
        rows,
    )
    print("target 95% intervals covering 93-97% on backtests: see 'calibrated' above")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _child(sys.argv[2], sys.argv[3])
        return
    n = int(os.environ.get("BENCH_EVENTS", "10000000"))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        _events(n, folder)
        ours, ours_mem = _run("ours", folder)
        plain, plain_mem = _run("pandas", folder)
    print_table(
        f"KPIs over {n:,} events, a 90-day period (DAU, WAU, MAU, sessions, retention)",
        ["engine", "compute s", "peak RSS MiB (incl. loading)"],
        [
            ["backbeat (Ibis on DuckDB)", f"{ours:.2f}", f"{ours_mem:.0f}"],
            ["pandas, straightforward", f"{plain:.2f}", f"{plain_mem:.0f}"],
        ],
    )
    ratio = plain / ours
    print(
        f"target >= 10x pandas on 10M events: {ratio:.1f}x -> {'met' if ratio >= 10 else 'MISSED'}"
    )
    forecasts()


if __name__ == "__main__":
    main()
