"""Analytics: KPIs over millions of events on DuckDB (through Ibis) against plain pandas;
forecast fit time and backtest accuracy.

1. Events: N/200 users x uniform plays over 365 days (DuckDB, hash-seeded, the same file
   every run), written to Parquet. KPIs for a 90-day period (DAU, rolling WAU/MAU,
   sessions with the 30-minute rule, retention by monthly cohort): ``compute_kpis`` on an
   in-memory DuckDB holding the checked table (checked and loaded by DuckDB, no pandas
   copy), against the same KPIs written straightforwardly in pandas (groupby, per-day
   rolling windows over user-day pairs, diff per user). Compute times exclude loading
   (shown apart); peak memory (RSS) of each run in its own process. Default sizes 10M and
   100M events (``BENCH_EVENTS=10000000,100000000``); pandas runs up to 20M (above that
   it would not fit this machine's 23 GiB: its 10M run's peak, times ten).
2. Forecasts: the generator's daily revenue and DAU (2,000 users, 365 days), fit time of
   the full model choice (4 ETS candidates x 4 backtest origins + refit) and the chosen
   model's backtest MASE and 95% interval coverage, raw and calibrated.
3. Forecast peers on 3 years of generated daily revenue, one harness for all: backbeat's
   ``forecast_series``, statsmodels' ETSModel (additive damped trend, weekly season) and
   Prophet (defaults), each fitted at 6 rolling origins, 30 days ahead: fit time, MASE,
   95% interval coverage.
4. Portability: the same KPI expressions on Spark in local mode against DuckDB (identical
   answers required), with Spark's start-up and query time.
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
    import duckdb

    users = max(1000, n // 200)
    path.mkdir(parents=True, exist_ok=True)
    query = f"""
        COPY (
            SELECT 'u' || CAST(hash(i) % {users} AS VARCHAR) AS user_id,
                   't' || CAST(hash(i * 31 + 7) % 50000 AS VARCHAR) AS track_id,
                   TIMESTAMPTZ '2025-01-01 00:00:00+00'
                     + to_seconds(CAST(hash(i * 17 + 3) % {365 * 86400} AS BIGINT)) AS timestamp,
                   CAST(5000 + hash(i * 13 + 1) % 295000 AS BIGINT) AS ms_played
            FROM range({n}) t(i)
        ) TO '{path / "events.parquet"}' (FORMAT parquet)
    """
    with duckdb.connect() as con:
        con.execute("SET TimeZone = 'UTC'")
        con.execute(query)


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


LOADED = [0.0]


def _ours(folder: Path) -> float:
    from backbeat.analytics import compute_kpis, open_source, parse_period

    started = time.perf_counter()
    source = open_source(folder)
    LOADED[0] = time.perf_counter() - started
    started = time.perf_counter()
    compute_kpis(source, parse_period(f"{PERIOD[0]}..{PERIOD[1]}"))
    return time.perf_counter() - started


def _child(which: str, folder: str) -> None:
    seconds = (_ours if which == "ours" else _pandas)(Path(folder))
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{seconds:.2f} {peak_mib:.0f} {LOADED[0]:.2f}")


def _run(which: str, folder: Path) -> tuple[float, float, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", which, str(folder)], capture_output=True, text=True
    )
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-2000:])
    seconds, peak, loaded = out.stdout.split()
    return float(seconds), float(peak), float(loaded)


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


def _peers_backtest(series: pd.Series, horizon: int = 30, origins: int = 6) -> list[list[str]]:
    """One rolling-origin harness for every engine: fit on the days before each origin,
    forecast ``horizon`` days with 95% intervals, score MASE (scaled by the weekly naive
    forecast's in-sample error) and coverage of the held-out days."""
    import logging

    import prophet
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    from backbeat.analytics import forecast_series

    logging.getLogger("cmdstanpy").setLevel(logging.WARNING)
    values = series.to_numpy(dtype=float)
    dates = pd.to_datetime(series.index)

    def ours(train: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        f = forecast_series(train, "revenue", horizon, 0.95)
        return (
            np.array([p.mean for p in f.points]),
            np.array([p.lower for p in f.points]),
            np.array([p.upper for p in f.points]),
        )

    def ets(train: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        indexed = pd.Series(
            train.to_numpy(dtype=float),
            index=pd.date_range(str(train.index[0]), periods=len(train), freq="D"),
        )
        model = ETSModel(
            indexed,
            error="add",
            trend="add",
            damped_trend=True,
            seasonal="add",
            seasonal_periods=7,
        )
        fitted = model.fit(disp=False)
        frame = fitted.get_prediction(len(train), len(train) + horizon - 1).summary_frame(
            alpha=0.05
        )
        return (
            frame["mean"].to_numpy(),
            frame["pi_lower"].to_numpy(),
            frame["pi_upper"].to_numpy(),
        )

    def prophet_fit(train: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        frame = pd.DataFrame({"ds": pd.to_datetime(train.index), "y": train.to_numpy()})
        model = prophet.Prophet(interval_width=0.95)
        model.fit(frame)
        out = model.predict(model.make_future_dataframe(horizon).tail(horizon))
        return (
            out["yhat"].to_numpy(),
            out["yhat_lower"].to_numpy(),
            out["yhat_upper"].to_numpy(),
        )

    rows = []
    for name, engine in (
        ("backbeat (ETS chosen by backtest, calibrated)", ours),
        ("statsmodels ETS(A,Ad,A) weekly", ets),
        ("Prophet", prophet_fit),
    ):
        mases, covered, total, seconds = [], 0, 0, 0.0
        for k in range(origins, 0, -1):
            origin = len(values) - k * horizon
            train = pd.Series(values[:origin], index=dates[:origin].date)
            test = values[origin : origin + horizon]
            started = time.perf_counter()
            mean, lower, upper = engine(train)
            seconds += time.perf_counter() - started
            scale = np.abs(values[7:origin] - values[: origin - 7]).mean()
            mases.append(np.abs(mean - test).mean() / scale)
            covered += int(((test >= lower) & (test <= upper)).sum())
            total += test.size
        rows.append(
            [
                name,
                f"{seconds / origins:.2f}",
                f"{np.mean(mases):.3f}",
                f"{covered / total:.2f}",
            ]
        )
    return rows


def forecast_peers() -> None:
    from backbeat.analytics import daily_metric, generate, open_source

    try:
        import prophet  # noqa: F401
    except ImportError:
        print("Prophet is not installed (make bench installs the eval extra): peers skipped")
        return
    with tempfile.TemporaryDirectory() as tmp:
        generate(2000, 3 * 365, 3, Path(tmp))
        series = daily_metric(open_source(Path(tmp)), "revenue")
    print_table(
        "Daily revenue, 3 years generated: 6 rolling origins x 30 days ahead, 95% intervals",
        ["engine", "fit s per origin", "MASE", "95% coverage"],
        _peers_backtest(series),
    )


def spark_check() -> None:
    """The same KPI expressions on Spark in local mode (2 threads) against DuckDB."""
    import warnings

    try:
        import ibis
        from pyspark.sql import SparkSession
    except ImportError:
        print("pyspark is not installed (make bench installs the eval extra): Spark skipped")
        return
    from backbeat.analytics import compute_kpis, generate, open_source, parse_period

    warnings.simplefilter("ignore", FutureWarning)  # pyspark 4.3 about pandas 3
    with tempfile.TemporaryDirectory() as tmp, tempfile.TemporaryDirectory() as warehouse:
        started = time.perf_counter()
        spark = (
            SparkSession.builder.master("local[2]")
            .config("spark.sql.session.timeZone", "UTC")
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            # the tables ibis registers go under the temporary folder, not the working one
            .config("spark.sql.warehouse.dir", warehouse)
            .getOrCreate()
        )
        spark.sparkContext.setLogLevel("ERROR")
        up = time.perf_counter() - started
        period = parse_period("2025-02-01..2025-03-31")
        generate(300, 90, 5, Path(tmp))
        started = time.perf_counter()
        on_spark = compute_kpis(
            open_source(Path(tmp), backend=ibis.pyspark.connect(spark), prefix="bb_"), period
        ).to_dict()
        spark_s = time.perf_counter() - started
        started = time.perf_counter()
        on_duckdb = compute_kpis(open_source(Path(tmp)), period).to_dict()
        duck_s = time.perf_counter() - started
        spark.stop()
    same = "identical" if on_spark == on_duckdb else "DIFFERENT"
    print(
        f"\nSpark local mode (300 users x 90 days): KPIs {same} to DuckDB's; Spark start "
        f"{up:.1f} s, KPIs {spark_s:.1f} s (DuckDB {duck_s:.2f} s)"
    )


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _child(sys.argv[2], sys.argv[3])
        return
    sizes = [int(v) for v in os.environ.get("BENCH_EVENTS", "10000000,100000000").split(",")]
    for n in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            _events(n, folder)
            ours, ours_mem, loaded = _run("ours", folder)
            rows = [
                ["backbeat (Ibis on DuckDB)", f"{loaded:.1f}", f"{ours:.2f}", f"{ours_mem:.0f}"]
            ]
            plain = None
            if n <= 20_000_000:
                plain, plain_mem, _ = _run("pandas", folder)
                rows.append(["pandas, straightforward", "-", f"{plain:.2f}", f"{plain_mem:.0f}"])
        print_table(
            f"KPIs over {n:,} events, a 90-day period (DAU, WAU, MAU, sessions, retention)",
            ["engine", "check + load s", "compute s", "peak RSS MiB (incl. loading)"],
            rows,
        )
        if plain is not None and n >= 10_000_000:
            ratio = plain / ours
            verdict = "met" if ratio >= 10 else "MISSED"
            print(f"target >= 10x pandas on {n:,} events: {ratio:.1f}x -> {verdict}")
        if n >= 100_000_000:
            gib = ours_mem / 1024
            verdict = "met" if gib <= 24 else "MISSED"
            print(f"target {n:,} events within 24 GiB: peak {gib:.1f} GiB -> {verdict}")
    forecasts()
    forecast_peers()
    spark_check()


if __name__ == "__main__":
    main()
