"""The service's own database as an analytics source.

The same three inputs as a folder (see :mod:`backbeat.analytics._source`), read from the
tables the service writes: ``listening_events`` (``POST /v1/events``; every kind, skips
included, counts as activity; a missing ``ms_played`` counts 0), ``subscriptions`` and
``payments`` (``POST /v1/billing/events``). Times there are epoch seconds; the views turn
them into UTC timestamps, amounts into floats.

- **PostgreSQL**: the KPI queries run in PostgreSQL itself, through Ibis views over the live
  tables (nothing is copied).
- **SQLite** (the embedded default): Ibis's SQLite backend lacks the date arithmetic the
  KPIs need, so the three tables are copied, in batches through Arrow, into an in-memory
  DuckDB, and copied again only when they changed (a fingerprint of row counts and the
  billing events' count, checked before each call).
"""

from __future__ import annotations

import sqlite3
import threading
from typing import Any

from sqlalchemy.engine import make_url

from backbeat.analytics._errors import input_error
from backbeat.analytics._source import Source

__all__ = ["DatabaseSource", "database_rows", "open_database"]

_BATCH = 200_000
_SQLITE_QUERIES = {
    "events": "SELECT user_id, track_id, timestamp, COALESCE(ms_played, 0) FROM listening_events",
    "subscriptions": (
        "SELECT user_id, plan, CAST(price AS REAL), currency, started_at, ended_at "
        "FROM subscriptions"
    ),
    "payments": "SELECT user_id, CAST(amount AS REAL), currency, paid_at, kind FROM payments",
}
_FINGERPRINT = (
    "SELECT (SELECT count(*) FROM listening_events), (SELECT max(id) FROM listening_events), "
    "(SELECT count(*) FROM billing_events), (SELECT count(*) FROM subscriptions), "
    "(SELECT count(*) FROM payments)"
)


def _arrow_schema(name: str) -> Any:
    import pyarrow as pa

    ts = pa.timestamp("us", tz="UTC")
    return {
        "events": pa.schema(
            [
                ("user_id", pa.string()),
                ("track_id", pa.string()),
                ("timestamp", ts),
                ("ms_played", pa.int64()),
            ]
        ),
        "subscriptions": pa.schema(
            [
                ("user_id", pa.string()),
                ("plan", pa.string()),
                ("price", pa.float64()),
                ("currency", pa.string()),
                ("started_at", ts),
                ("ended_at", ts),
            ]
        ),
        "payments": pa.schema(
            [
                ("user_id", pa.string()),
                ("amount", pa.float64()),
                ("currency", pa.string()),
                ("paid_at", ts),
                ("kind", pa.string()),
            ]
        ),
    }[name]


def _batch(rows: list[tuple[Any, ...]], schema: Any) -> Any:
    import pyarrow as pa

    columns = []
    for i, field in enumerate(schema):
        values = [row[i] for row in rows]
        if pa.types.is_timestamp(field.type):
            values = [None if v is None else round(float(v) * 1_000_000) for v in values]
            columns.append(pa.array(values, pa.int64()).cast(field.type))
        else:
            columns.append(pa.array(values, field.type))
    return pa.RecordBatch.from_arrays(columns, schema=schema)


class DatabaseSource(Source):
    """A :class:`Source` over the service database at ``url``: nothing is read until
    :meth:`refresh` (which :class:`BusinessAnalytics` calls before each computation)."""

    def __init__(self, url: str, *, schema: str | None = None) -> None:
        self.url = url
        self.schema = schema
        self._kind = "sqlite" if url.lower().startswith("sqlite") else "postgresql"
        self._fingerprint: tuple[Any, ...] | None = None
        self._views: tuple[Any, dict[str, Any]] | None = None
        self._lock = threading.Lock()
        shown = make_url(url).render_as_string(hide_password=True)
        super().__init__(backend=None, tables={}, currency=None, origin=shown)

    def refresh(self) -> None:
        with self._lock:
            if self._kind == "sqlite":
                self._refresh_sqlite()
            else:
                self._refresh_postgres()
            self._check_events()

    def _check_events(self) -> None:
        events = self.tables["events"]
        if int(events.limit(1).count().to_pyarrow().as_py()) == 0:
            raise input_error(
                self.origin, "listening_events", "-", "no listening events recorded yet"
            )

    def _sqlite_path(self) -> str:
        path = make_url(self.url.replace("+aiosqlite", "")).database
        if not path or path == ":memory:":
            raise input_error(self.origin, "-", "-", "an in-memory database cannot be shared")
        return path

    def _refresh_sqlite(self) -> None:
        import duckdb
        import ibis
        import pyarrow as pa

        path = self._sqlite_path()
        try:
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5.0)
        except sqlite3.Error as exc:
            raise input_error(self.origin, "-", "-", f"cannot be opened ({exc})") from None
        try:
            try:
                fingerprint = tuple(conn.execute(_FINGERPRINT).fetchone() or ())
            except sqlite3.Error as exc:  # tables missing: not migrated to 0010 yet
                raise input_error(
                    self.origin, "-", "-", f"not an up-to-date backbeat database ({exc})"
                ) from None
            if fingerprint == self._fingerprint and self.backend is not None:
                return
            raw = duckdb.connect()
            for name, query in _SQLITE_QUERIES.items():
                schema = _arrow_schema(name)
                cursor = conn.execute(query)
                batches = []
                while rows := cursor.fetchmany(_BATCH):
                    batches.append(_batch(rows, schema))
                raw.register(f"_arrow_{name}", pa.Table.from_batches(batches, schema=schema))
                # our own table names (``_SQLITE_QUERIES``' keys), never input
                raw.execute(f"CREATE TABLE {name} AS SELECT * FROM _arrow_{name}")  # noqa: S608
                raw.unregister(f"_arrow_{name}")
        finally:
            conn.close()
        con = ibis.duckdb.from_connection(raw)
        tables = {name: con.table(name) for name in _SQLITE_QUERIES}
        currencies = sorted(
            {
                str(c)
                for name in ("subscriptions", "payments")
                for row in raw.execute(f"SELECT DISTINCT currency FROM {name}").fetchall()  # noqa: S608
                for c in row
            }
        )
        self._set(con, tables, currencies)
        self._fingerprint = fingerprint

    def _refresh_postgres(self) -> None:
        if self._views is None:
            self._views = self._open_postgres()
        con, tables = self._views
        sub, pay = tables["subscriptions"], tables["payments"]
        both = sub.select("currency").union(pay.select("currency")).distinct()
        currencies = sorted(str(c) for c in both.to_pyarrow().column(0).to_pylist())
        self._set(con, tables, currencies)

    def _open_postgres(self) -> tuple[Any, dict[str, Any]]:
        import ibis

        url = make_url(self.url)
        try:
            con = ibis.postgres.connect(
                host=url.host or "localhost",
                port=url.port or 5432,
                user=url.username,
                password=url.password,
                database=url.database,
            )
        except Exception as exc:
            raise input_error(
                self.origin, "-", "-", f"cannot be reached ({type(exc).__name__})"
            ) from None

        def table(name: str) -> Any:
            try:
                return con.table(name, database=self.schema) if self.schema else con.table(name)
            except Exception as exc:
                raise input_error(
                    self.origin, name, "-", f"not an up-to-date backbeat database ({exc})"
                ) from None

        import ibis.expr.datatypes as dt

        # PostgreSQL's own to_timestamp(double precision): Ibis's as_timestamp wants integers
        stamp = ibis.udf.scalar.builtin(
            lambda epoch: None,
            name="to_timestamp",
            signature=((dt.float64,), dt.Timestamp(timezone="UTC")),
        )

        ev, sub, pay = table("listening_events"), table("subscriptions"), table("payments")
        tables = {
            "events": ev.select(
                user_id=ev.user_id,
                track_id=ev.track_id,
                timestamp=stamp(ev.timestamp),
                ms_played=ev.ms_played.fill_null(0).cast("int64"),
            ),
            "subscriptions": sub.select(
                user_id=sub.user_id,
                plan=sub.plan,
                price=sub.price.cast("float64"),
                currency=sub.currency,
                started_at=stamp(sub.started_at),
                ended_at=stamp(sub.ended_at),
            ),
            "payments": pay.select(
                user_id=pay.user_id,
                amount=pay.amount.cast("float64"),
                currency=pay.currency,
                paid_at=stamp(pay.paid_at),
                kind=pay.kind,
            ),
        }
        return con, tables

    def _set(self, con: Any, tables: dict[str, Any], currencies: list[str]) -> None:
        if len(currencies) > 1:
            raise input_error(
                self.origin,
                "currency",
                "-",
                f"currencies mixed without rates: {', '.join(currencies)}",
            )
        self.backend = con
        self.tables = dict(tables)
        if not currencies:  # no billing yet: KPIs without revenue
            self.tables.pop("subscriptions")
            self.tables.pop("payments")
        self.currency = currencies[0] if currencies else None


def open_database(url: str, *, schema: str | None = None) -> DatabaseSource:
    """The service database at ``url`` (``sqlite:///...`` or ``postgresql://...``)."""
    return DatabaseSource(url, schema=schema)


def database_rows(frames: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Checked frames (:func:`load_frames`) as rows of the service's tables: events as plays,
    times in epoch seconds, amounts as :class:`~decimal.Decimal` (refunds positive)."""
    from decimal import Decimal

    import pandas as pd

    def epochs(series: Any) -> list[float | None]:
        return [None if pd.isna(v) else float(v.timestamp()) for v in series.astype(object)]

    limits = {"user_id": 200, "track_id": 22, "plan": 100}
    for name, frame in frames.items():
        for column, limit in limits.items():
            if column in frame.columns:
                long = frame[column].astype(str).str.len() > limit
                if long.any():
                    row = int(long.to_numpy().nonzero()[0][0]) + 2
                    raise input_error(
                        name, column, row, f"longer than the database's {limit} characters"
                    )
    out: dict[str, list[dict[str, Any]]] = {"events": [], "subscriptions": [], "payments": []}
    ev = frames["events"]
    out["events"] = [
        {"user_id": u, "track_id": t, "kind": "play", "timestamp": ts, "ms_played": int(ms)}
        for u, t, ts, ms in zip(
            ev["user_id"].astype(str),
            ev["track_id"].astype(str),
            epochs(ev["timestamp"]),
            ev["ms_played"],
            strict=True,
        )
    ]
    if "subscriptions" in frames:
        f = frames["subscriptions"]
        out["subscriptions"] = [
            {
                "user_id": u,
                "plan": plan,
                "price": Decimal(str(price)),
                "currency": c,
                "started_at": a,
                "ended_at": b,
            }
            for u, plan, price, c, a, b in zip(
                f["user_id"].astype(str),
                f["plan"].astype(str),
                f["price"],
                f["currency"].astype(str),
                epochs(f["started_at"]),
                epochs(f["ended_at"]),
                strict=True,
            )
        ]
    if "payments" in frames:
        f = frames["payments"]
        out["payments"] = [
            {"user_id": u, "amount": Decimal(str(abs(a))), "currency": c, "paid_at": t, "kind": k}
            for u, a, c, t, k in zip(
                f["user_id"].astype(str),
                f["amount"],
                f["currency"].astype(str),
                epochs(f["paid_at"]),
                f["kind"].astype(str),
                strict=True,
            )
        ]
    return out
