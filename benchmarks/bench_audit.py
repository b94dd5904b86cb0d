"""``@audited`` cost: events/s and p99 added latency, direct vs buffered, SQLite vs PostgreSQL.

A trivial ``async def`` is called N times bare, then wrapped in ``@audited``
with each trail; "added p99" is the 99th percentile of (audited call time -
median bare call time). A plain ``logging`` call to a file is the reference:
what people use instead of an audit trail, with no integrity at all.
PostgreSQL at ``BACKBEAT_BENCH_DATABASE_URL`` (default
postgresql://postgres@127.0.0.1:5432/test, own schema, dropped afterwards).
"""

from __future__ import annotations

import asyncio
import logging
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

from sqlalchemy import text

from _table import print_table
from backbeat.audit import AuditStore, AuditTrail, Sealer, audited
from backbeat.security import Keyring
from backbeat.storage import create_engine, upgrade

PG_URL = os.environ.get("BACKBEAT_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")


async def bare(track_id: str) -> str:
    return track_id


async def timings(fn: Callable[[str], Awaitable[str]], n: int) -> tuple[float, list[float]]:
    samples = []
    start = time.perf_counter()
    for i in range(n):
        t0 = time.perf_counter()
        await fn(str(i))
        samples.append(time.perf_counter() - t0)
    return time.perf_counter() - start, samples


def row(name: str, n: int, total: float, samples: list[float], base: float) -> list[str]:
    added = sorted(s - base for s in samples)
    p99 = added[int(len(added) * 0.99) - 1]
    return [
        name,
        f"{n / total:,.0f}",
        f"{statistics.median(added) * 1e6:,.1f}",
        f"{p99 * 1e6:,.1f}",
    ]


async def main() -> None:
    tmp = Path(tempfile.mkdtemp())
    keyring = Keyring.generate()
    _, base_samples = await timings(bare, 20_000)
    base = statistics.median(base_samples)
    rows = []

    logger = logging.getLogger("bench.audit.plain")
    logger.propagate = False
    handler = logging.FileHandler(tmp / "plain.log")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)

    async def logged(track_id: str) -> str:
        logger.info("fetch_track %s by %s", track_id, "user-1")
        return track_id

    total, samples = await timings(logged, 20_000)
    rows.append(row("logging.info to a file", 20_000, total, samples, base))

    engines = [("SQLite", create_engine(f"sqlite:///{tmp / 'bench.db'}"), None)]
    schema = f"bbbench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_URL)
    try:
        async with admin.begin() as conn:
            await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        engines.append(("PostgreSQL", create_engine(PG_URL, schema=schema), schema))
    except Exception as e:  # report and measure SQLite only
        print(f"PostgreSQL unreachable ({type(e).__name__}): SQLite only")
    for label, engine, _ in engines:
        await upgrade(engine)
        for mode, n in (("direct", 2_000), ("buffered", 20_000)):
            trail = AuditTrail(AuditStore(engine, Sealer(keyring)), mode=mode)  # type: ignore[arg-type]
            fn = audited(action="fetch_track", resource="track:{track_id}", trail=trail)(bare)
            total, samples = await timings(fn, n)
            t0 = time.perf_counter()
            await trail.aclose()  # buffered: what is still queued is written here
            total += time.perf_counter() - t0
            rows.append(row(f"@audited {label} {mode}", n, total, samples, base))
            assert (await trail.verify()).ok
        await engine.dispose()
    if len(engines) > 1:
        async with admin.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    await admin.dispose()
    print_table(
        "@audited on a trivial async function (events/s include the final flush)",
        ["variant", "events/s", "added median us", "added p99 us"],
        rows,
    )


if __name__ == "__main__":
    asyncio.run(main())
