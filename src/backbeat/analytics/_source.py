"""Loading and checking the three inputs: ``events``, ``subscriptions``, ``payments``.

A source is a folder holding ``events.csv`` or ``events.parquet`` (required) and, when
revenue figures are wanted, ``subscriptions.*`` and ``payments.*``. Columns:

- events: ``user_id, track_id, timestamp, ms_played``
- subscriptions: ``user_id, plan, price, currency, started_at, ended_at`` (``price`` per
  month; ``ended_at`` empty while active)
- payments: ``user_id, amount, currency, paid_at, kind`` (``charge`` or ``refund``)

Timestamps are ISO-8601 in UTC. Every problem is a :class:`AnalyticsInputError` naming the
file, the column and the (1-based, header = row 1) row: a missing column, an unparsable
date, a negative amount that is not a refund, currencies mixed without rates. Checked
tables are loaded into an Ibis backend (DuckDB in memory by default; any Ibis connection,
PostgreSQL included, with ``backend=``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from backbeat.analytics._errors import input_error

__all__ = ["COLUMNS", "Source", "load_frames", "open_source"]

COLUMNS: dict[str, tuple[str, ...]] = {
    "events": ("user_id", "track_id", "timestamp", "ms_played"),
    "subscriptions": ("user_id", "plan", "price", "currency", "started_at", "ended_at"),
    "payments": ("user_id", "amount", "currency", "paid_at", "kind"),
}
_TIMES = {
    "events": ("timestamp",),
    "subscriptions": ("started_at", "ended_at"),
    "payments": ("paid_at",),
}
_NUMBERS = {"events": ("ms_played",), "subscriptions": ("price",), "payments": ("amount",)}


def _find(folder: Path, name: str) -> Path | None:
    for suffix in (".parquet", ".csv"):
        path = folder / f"{name}{suffix}"
        if path.exists():
            return path
    return None


def _read(path: Path, name: str) -> pd.DataFrame:
    source = str(path)
    try:
        if path.suffix == ".parquet":
            frame = pd.read_parquet(path)
        else:
            frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, ValueError) as exc:
        raise input_error(source, "-", "-", f"cannot be read ({exc})") from None
    missing = [c for c in COLUMNS[name] if c not in frame.columns]
    if missing:
        raise input_error(source, ", ".join(missing), 1, "missing column(s)")
    frame = frame[list(COLUMNS[name])].copy()
    for column in _TIMES[name]:
        raw = frame[column]
        optional = column == "ended_at"
        text = raw.astype("string").fillna("")
        parsed = pd.to_datetime(
            text.where(text != "", None), utc=True, errors="coerce", format="ISO8601"
        )
        bad = parsed.isna() & ((text != "") | (not optional))
        if bad.any():
            row = int(bad.to_numpy().nonzero()[0][0])
            raise input_error(
                source, column, row + 2, f"{str(text.iloc[row])[:40]!r} is not an ISO-8601 time"
            )
        frame[column] = parsed
    for column in _NUMBERS[name]:
        values = pd.to_numeric(frame[column], errors="coerce")
        bad = values.isna()
        if bad.any():
            row = int(bad.to_numpy().nonzero()[0][0])
            raise input_error(
                source, column, row + 2, f"{str(frame[column].iloc[row])[:40]!r} is not a number"
            )
        frame[column] = values
    if name == "events":
        negative = frame["ms_played"] < 0
        if negative.any():
            row = int(negative.to_numpy().nonzero()[0][0])
            raise input_error(source, "ms_played", row + 2, "a negative duration")
        frame["ms_played"] = frame["ms_played"].astype("int64")
    if name == "payments":
        kinds = frame["kind"].astype(str)
        unknown = ~kinds.isin(["charge", "refund"])
        if unknown.any():
            row = int(unknown.to_numpy().nonzero()[0][0])
            raise input_error(
                source, "kind", row + 2, f"{kinds.iloc[row]!r} is not charge or refund"
            )
        negative = (frame["amount"] < 0) & (kinds == "charge")
        if negative.any():
            row = int(negative.to_numpy().nonzero()[0][0])
            raise input_error(source, "amount", row + 2, "a negative amount that is not a refund")
    if name == "subscriptions":
        ended = frame["ended_at"].notna() & (frame["ended_at"] < frame["started_at"])
        if ended.any():
            row = int(ended.to_numpy().nonzero()[0][0])
            raise input_error(source, "ended_at", row + 2, "ends before it starts")
    for column in ("user_id",):
        empty = frame[column].astype(str).str.len() == 0
        if empty.any():
            row = int(empty.to_numpy().nonzero()[0][0])
            raise input_error(source, column, row + 2, "empty")
        frame[column] = frame[column].astype(str)
    return frame


def load_frames(folder: Path, *, skip: tuple[str, ...] = ()) -> dict[str, pd.DataFrame]:
    """The checked tables of a source folder (events required, the others optional;
    ``skip``: names checked elsewhere)."""
    if not folder.is_dir():
        raise input_error(
            str(folder), "-", "-", "not a folder of events/subscriptions/payments files"
        )
    frames: dict[str, pd.DataFrame] = {}
    for name in COLUMNS:
        if name in skip:
            continue
        path = _find(folder, name)
        if path is None:
            if name == "events":
                raise input_error(str(folder), "-", "-", "no events.csv or events.parquet")
            continue
        frames[name] = _read(path, name)
    currencies = set()
    for name in ("subscriptions", "payments"):
        if name in frames:
            currencies |= set(frames[name]["currency"].astype(str).unique())
    if len(currencies) > 1:
        raise input_error(
            str(folder),
            "currency",
            "-",
            f"currencies mixed without rates: {', '.join(sorted(currencies))}",
        )
    return frames


@dataclass
class Source:
    """Checked tables in an Ibis backend; ``currency`` of the revenue figures, if any."""

    backend: Any
    tables: dict[str, Any]
    currency: str | None
    origin: str

    def has(self, name: str) -> bool:
        return name in self.tables

    def refresh(self) -> None:
        """Bring the tables up to date (files are read once: nothing to do)."""


def _duckdb_events(con: Any, path: Path) -> Any:
    """``events.parquet`` checked and loaded by DuckDB itself, never through pandas: what
    lets 100M events fit in memory. The same checks as :func:`_read`, rows named the same
    way (the file's row number, header = row 1)."""
    raw = con.con
    source = str(path)
    scan = f"read_parquet('{source.replace(chr(39), chr(39) * 2)}', file_row_number = true)"
    try:
        described = raw.execute(f"DESCRIBE SELECT * FROM {scan}").fetchall()  # noqa: S608
    except Exception as exc:  # DuckDB's IO and format errors vary: name the file
        raise input_error(source, "-", "-", f"cannot be read ({exc})") from None
    types = {str(row[0]): str(row[1]).upper() for row in described}
    missing = [c for c in COLUMNS["events"] if c not in types]
    if missing:
        raise input_error(source, ", ".join(missing), 1, "missing column(s)")
    kind = types["timestamp"]
    if kind.startswith("TIMESTAMP WITH TIME ZONE"):
        stamp = '"timestamp"'
    elif kind.startswith("TIMESTAMP"):  # naive: UTC by the file format's definition
        stamp = "timezone('UTC', \"timestamp\")"
    else:
        stamp = 'TRY_CAST(CAST("timestamp" AS VARCHAR) AS TIMESTAMPTZ)'
    ms = "TRY_CAST(ms_played AS DOUBLE)"
    checks = [
        ("timestamp", f"{stamp} IS NULL", '"timestamp"', "is not an ISO-8601 time"),
        ("ms_played", f"{ms} IS NULL", "ms_played", "is not a number"),
        ("ms_played", f"{ms} < 0", None, "a negative duration"),
        ("user_id", "user_id IS NULL OR length(CAST(user_id AS VARCHAR)) = 0", None, "empty"),
    ]
    for column, bad, shown, problem in checks:
        first = raw.execute(
            f"SELECT min(file_row_number) FROM {scan} WHERE {bad}"  # noqa: S608 - our SQL
        ).fetchone()
        if first is not None and first[0] is not None:
            row = int(first[0])
            if shown is not None:
                value = raw.execute(
                    f"SELECT CAST({shown} AS VARCHAR) FROM {scan} "  # noqa: S608
                    f"WHERE file_row_number = {row}"
                ).fetchone()
                problem = f"{str(value[0] if value else '')[:40]!r} {problem}"
            raise input_error(source, column, row + 2, problem)
    columns = (
        "CAST(user_id AS VARCHAR) AS user_id, CAST(track_id AS VARCHAR) AS track_id, "
        f"{stamp} AS timestamp, CAST({ms} AS BIGINT) AS ms_played"
    )
    raw.execute(f"CREATE OR REPLACE TABLE events AS SELECT {columns} FROM {scan}")  # noqa: S608
    return con.table("events")


def open_source(folder: Path, *, backend: Any = None, prefix: str = "") -> Source:
    """Check ``folder``'s files and load them into ``backend`` (DuckDB in memory by default).

    On the default DuckDB, ``events.parquet`` is checked and loaded by DuckDB directly (no
    pandas copy: 100M events fit in memory); other files go through :func:`load_frames`."""
    import ibis
    import pyarrow as pa

    con = backend if backend is not None else ibis.duckdb.connect()
    events_parquet = folder / "events.parquet"
    native = backend is None and not prefix and events_parquet.exists()
    if native:
        events = _duckdb_events(con, events_parquet)
        frames = load_frames(folder, skip=("events",))
    else:
        frames = load_frames(folder)
    tables = {  # through Arrow: Ibis's pandas path trips pandas 3's deprecation warnings
        name: con.create_table(
            f"{prefix}{name}", pa.Table.from_pandas(frame, preserve_index=False), overwrite=True
        )
        for name, frame in frames.items()
    }
    if native:
        tables = {"events": events, **tables}
    currency = None
    for name in ("subscriptions", "payments"):
        if name in frames and len(frames[name]):
            currency = str(frames[name]["currency"].iloc[0])
    return Source(con, tables, currency, str(folder))
