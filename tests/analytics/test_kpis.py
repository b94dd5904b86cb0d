"""KPIs against an independent pandas computation, the same on DuckDB and PostgreSQL,
bad input named by file, column and row, and the CLI."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import subprocess
import sys
import uuid
from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("ibis", reason="the analytics extra")

from backbeat.analytics import (
    AnalyticsInputError,
    compute_kpis,
    create_business_analytics,
    generate,
    open_source,
    parse_period,
)

BACKBEAT = str(Path(sys.executable).with_name("backbeat"))
PERIOD = "2025-03-01..2025-04-15"


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("analytics")
    generate(400, 120, 3, out, file_format="csv")
    return out


def _reference(folder: Path, start: dt.date, end: dt.date) -> dict[str, object]:
    """The same KPIs written plainly in pandas, from the CSV files."""
    ev = pd.read_csv(folder / "events.csv")
    ev["timestamp"] = pd.to_datetime(ev["timestamp"], utc=True)
    ev["day"] = ev["timestamp"].dt.date
    days = [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]
    ref: dict[str, object] = {}
    ref["dau"] = {d.isoformat(): int(ev.loc[ev["day"] == d, "user_id"].nunique()) for d in days}

    def rolling(width: int) -> dict[str, int]:
        return {
            d.isoformat(): int(
                ev.loc[
                    (ev["day"] <= d) & (ev["day"] > d - dt.timedelta(days=width)), "user_id"
                ].nunique()
            )
            for d in days
        }

    ref["wau"], ref["mau"] = rolling(7), rolling(30)
    ev = ev.sort_values(["user_id", "timestamp"])
    gap = ev.groupby("user_id")["timestamp"].diff().dt.total_seconds()
    starts = ev[(gap.isna()) | (gap > 1800)]
    ref["sessions"] = {d.isoformat(): int((starts["day"] == d).sum()) for d in days}
    subs = pd.read_csv(folder / "subscriptions.csv")
    subs["started_at"] = pd.to_datetime(subs["started_at"], utc=True)
    subs["ended_at"] = pd.to_datetime(subs["ended_at"], utc=True)
    mrr = {}
    for month in pd.period_range(start, end, freq="M"):
        edge = pd.Timestamp(month.end_time.date() + dt.timedelta(days=1), tz="UTC")
        alive = (subs["started_at"] < edge) & (subs["ended_at"].isna() | (subs["ended_at"] >= edge))
        mrr[str(month)] = round(float(subs.loc[alive, "price"].sum()), 6)
    ref["mrr"] = mrr
    pays = pd.read_csv(folder / "payments.csv")
    pays["paid_at"] = pd.to_datetime(pays["paid_at"], utc=True)
    inside = pays[(pays["paid_at"].dt.date >= start) & (pays["paid_at"].dt.date <= end)]
    revenue = float(inside["amount"].sum())  # refunds are stored negative
    active = ev.loc[(ev["day"] >= start) & (ev["day"] <= end), "user_id"].nunique()
    ref["revenue"] = round(revenue, 6)
    ref["arpu"] = round(revenue / active, 6)
    ev = ev[ev["day"] <= end]  # retention as of the period's end
    first = ev.groupby("user_id")["timestamp"].min().dt.tz_localize(None).dt.to_period("M")
    months = ev.assign(m=ev["timestamp"].dt.tz_localize(None).dt.to_period("M"))[
        ["user_id", "m"]
    ].drop_duplicates()
    retention = {}
    last = pd.Period(end, freq="M")
    for cohort, users in first.groupby(first):
        members = set(users.index)
        shares = []
        for k in range((last - cohort).n + 1):
            month = cohort + k
            seen = set(months.loc[months["m"] == month, "user_id"]) & members
            shares.append(round(len(seen) / len(members), 6))
        retention[str(cohort)] = shares
    ref["retention"] = retention
    return ref


def test_kpis_match_an_independent_pandas_computation(data: Path) -> None:
    period = parse_period(PERIOD)
    got = compute_kpis(open_source(data), period).to_dict()
    ref = _reference(data, period.start, period.end)
    for key in ("dau", "wau", "mau", "sessions", "mrr", "retention"):
        assert got[key] == ref[key], key
    assert got["revenue"] == pytest.approx(ref["revenue"])
    assert got["arpu"] == pytest.approx(ref["arpu"])
    assert got["currency"] == "EUR"
    assert 0 < got["stickiness"] < 1
    assert all(v > 0 for v in got["listening_hours"].values())


def test_kpi_identities_hold(data: Path) -> None:
    got = compute_kpis(open_source(data), parse_period("2025-02-01..2025-04-30")).to_dict()
    for day, dau in got["dau"].items():  # every active user-day is new, returning or resurrected
        parts = got["new_users"][day] + got["returning_users"][day] + got["resurrected_users"][day]
        assert parts == dau, day
    months = sorted(got["mrr"])
    for before, after in itertools.pairwise(months):  # the MRR bridge closes
        assert got["mrr"][after] - got["mrr"][before] == pytest.approx(
            got["mrr_movements"][after]["net"], abs=1e-6
        )
    assert all(0 <= v <= 1 for v in got["logo_churn"].values() if v is not None)
    assert 0 < got["conversion"] < 1


def test_the_same_answers_on_postgresql(data: Path, postgres_url: str) -> None:
    import ibis

    url = postgres_url.replace("postgresql+asyncpg://", "postgresql://")
    con = ibis.connect(url)
    prefix = f"bb_{uuid.uuid4().hex[:8]}_"
    try:
        on_pg = compute_kpis(open_source(data, backend=con, prefix=prefix), parse_period(PERIOD))
    finally:
        for name in ("events", "subscriptions", "payments"):
            con.drop_table(prefix + name, force=True)
        con.disconnect()
    on_duckdb = compute_kpis(open_source(data), parse_period(PERIOD))
    assert on_pg.to_dict() == on_duckdb.to_dict()


def test_the_same_seed_gives_the_same_files(tmp_path: Path) -> None:
    a = generate(50, 30, 11)
    b = generate(50, 30, 11)
    pd.testing.assert_frame_equal(a["events"], b["events"])
    c = generate(50, 30, 12)
    assert not a["events"].equals(c["events"])


def _folder(tmp_path: Path, **files: str) -> Path:
    for name, text in files.items():
        (tmp_path / f"{name}.csv").write_text(text)
    return tmp_path


GOOD_EVENTS = "user_id,track_id,timestamp,ms_played\nu1,t1,2025-01-01T10:00:00Z,1000\n"


@pytest.mark.parametrize(
    ("files", "column", "row", "words"),
    [
        (
            {"events": "user_id,timestamp\nu1,2025-01-01T10:00:00Z\n"},
            "track_id, ms_played",
            1,
            "missing",
        ),
        (
            {"events": "user_id,track_id,timestamp,ms_played\nu1,t1,yesterday,1\n"},
            "timestamp",
            2,
            "ISO-8601",
        ),
        (
            {"events": "user_id,track_id,timestamp,ms_played\nu1,t1,2025-01-01,x\n"},
            "ms_played",
            2,
            "number",
        ),
        (
            {
                "events": GOOD_EVENTS,
                "payments": "user_id,amount,currency,paid_at,kind\n"
                "u1,9.99,EUR,2025-01-01T00:00:00Z,charge\nu1,-9.99,EUR,2025-01-02T00:00:00Z,charge\n",
            },
            "amount",
            3,
            "not a refund",
        ),
        (
            {
                "events": GOOD_EVENTS,
                "payments": "user_id,amount,currency,paid_at,kind\n"
                "u1,9.99,EUR,2025-01-01T00:00:00Z,charge\nu2,9.99,USD,2025-01-01T00:00:00Z,charge\n",
            },
            "currency",
            "-",
            "mixed",
        ),
    ],
)
def test_bad_input_names_file_column_and_row(
    tmp_path: Path, files: dict[str, str], column: str, row: object, words: str
) -> None:
    with pytest.raises(AnalyticsInputError) as raised:
        open_source(_folder(tmp_path, **files))
    error = raised.value
    assert error.code == "analytics.input_invalid"
    assert error.details["column"] == column
    assert error.details["row"] == row
    assert words in error.message


def test_a_period_outside_the_data_is_refused(data: Path) -> None:
    with pytest.raises(AnalyticsInputError, match="outside the data"):
        compute_kpis(open_source(data), parse_period("2030-01-01..2030-01-31"))
    with pytest.raises(AnalyticsInputError, match="ends before"):
        parse_period("2025-02-01..2025-01-01")


@pytest.mark.anyio
async def test_the_seed_call(data: Path) -> None:
    analytics = create_business_analytics(data)
    metrics = await analytics.get_business_metrics(date_range="last_30_days")
    assert len(metrics.to_dict()["dau"]) == 30


def test_cli_kpis_json(data: Path) -> None:
    run = subprocess.run(
        [BACKBEAT, "analytics", "kpis", "--source", str(data), "--period", PERIOD, "--json"],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    body = json.loads(run.stdout)
    assert set(body) >= {"dau", "mau", "arpu", "mrr", "retention"}
    assert len(body["dau"]) == 46
    bad = subprocess.run(
        [BACKBEAT, "analytics", "kpis", "--source", str(data), "--period", "soon"],
        capture_output=True,
        text=True,
    )
    assert bad.returncode != 0
    assert "analytics.input_invalid" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_the_toolkit_serves_business_analytics(data: Path, tmp_path: Path) -> None:
    from backbeat.analytics import DatabaseSource
    from backbeat.settings import Settings
    from backbeat.toolkit import Toolkit

    tk = Toolkit(
        Settings.from_env(
            {"BACKBEAT_DATA_DIR": str(tmp_path), "BACKBEAT_ANALYTICS_SOURCE": str(data)}
        )
    )
    assert tk["business_analytics"] is tk.analytics
    bare = Toolkit(Settings.from_env({"BACKBEAT_DATA_DIR": str(tmp_path)}))
    # without a folder: the toolkit's own database (read lazily, on the first computation)
    assert isinstance(bare.analytics.source, DatabaseSource)
    assert bare.analytics.source.origin.endswith("backbeat.db")


@pytest.mark.parametrize(
    ("frame", "column", "row", "words"),
    [
        (
            {"user_id": ["u1", "u2"], "track_id": ["t", "t"], "ms_played": [1, 2]},
            "timestamp",
            1,
            "missing",
        ),
        (
            {
                "user_id": ["u1", "u2", "u3"],
                "track_id": ["t", "t", "t"],
                "timestamp": ["2025-01-01T10:00:00Z", "2025-01-02T10:00:00Z", "yesterday"],
                "ms_played": [1, 2, 3],
            },
            "timestamp",
            4,
            "'yesterday' is not an ISO-8601 time",
        ),
        (
            {
                "user_id": ["u1", "u2"],
                "track_id": ["t", "t"],
                "timestamp": pd.to_datetime(["2025-01-01", "2025-01-02"], utc=True),
                "ms_played": [1, -5],
            },
            "ms_played",
            3,
            "a negative duration",
        ),
        (
            {
                "user_id": ["u1", ""],
                "track_id": ["t", "t"],
                "timestamp": pd.to_datetime(["2025-01-01", "2025-01-02"]),
                "ms_played": [1, 5],
            },
            "user_id",
            3,
            "empty",
        ),
    ],
)
def test_parquet_events_are_checked_by_duckdb_naming_file_column_row(
    tmp_path: Path, frame: dict[str, object], column: str, row: int, words: str
) -> None:
    from backbeat.analytics import AnalyticsInputError

    pd.DataFrame(frame).to_parquet(tmp_path / "events.parquet", index=False)
    with pytest.raises(AnalyticsInputError) as info:
        open_source(tmp_path)
    details = info.value.details
    assert details["source"].endswith("events.parquet")
    assert details["column"] == column
    assert details["row"] == row
    assert words in details["problem"]


def test_naive_parquet_timestamps_are_utc(tmp_path: Path) -> None:
    frame = {
        "user_id": ["u1", "u2"],
        "track_id": ["t", "t"],
        "timestamp": pd.to_datetime(["2025-01-01 23:30", "2025-01-02 00:30"]),
        "ms_played": [1, 5],
    }
    pd.DataFrame(frame).to_parquet(tmp_path / "events.parquet", index=False)
    kpis = compute_kpis(open_source(tmp_path), parse_period("2025-01-01..2025-01-02")).to_dict()
    assert kpis["dau"] == {"2025-01-01": 1, "2025-01-02": 1}
