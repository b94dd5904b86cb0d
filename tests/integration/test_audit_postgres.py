"""The audit chain on the real PostgreSQL: many processes, and connections killed mid-write."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text

from backbeat.audit import AuditEvent, AuditStore, AuditTrail, Sealer
from backbeat.security import Keyring
from backbeat.storage import create_engine, upgrade

pytestmark = [pytest.mark.anyio, pytest.mark.integration]

WORKER = str(Path(__file__).with_name("audit_worker.py"))


@pytest.fixture
async def schema(postgres_url: str) -> AsyncIterator[str]:
    name = f"bbtest_{uuid.uuid4().hex[:12]}"
    admin = create_engine(postgres_url)
    async with admin.begin() as conn:
        await conn.execute(text(f'CREATE SCHEMA "{name}"'))
    engine = create_engine(postgres_url, schema=name)
    await upgrade(engine)
    await engine.dispose()
    try:
        yield name
    finally:
        async with admin.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA "{name}" CASCADE'))
        await admin.dispose()


def _spawn(url: str, schema: str, keys: str, n: int, go: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, WORKER, url, schema, keys, str(n)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "BACKBEAT_GO": str(go)},
    )


async def test_three_processes_write_one_valid_chain(
    postgres_url: str, schema: str, tmp_path: Path
) -> None:
    keyring = Keyring.generate()
    go = tmp_path / "go"
    procs = [_spawn(postgres_url, schema, keyring.export(), 334, go) for _ in range(3)]
    for p in procs:
        assert p.stdout is not None
        line = p.stdout.readline()
        assert line.strip() == "ready", p.communicate()[1]
    go.touch()
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        assert "done" in out
    engine = create_engine(postgres_url, schema=schema)
    trail = AuditTrail(AuditStore(engine, Sealer(keyring)))
    report = await trail.verify()
    await engine.dispose()
    assert report.ok, report.describe()
    assert report.events == 1002


async def test_no_acknowledged_event_is_lost_when_connections_are_killed(
    postgres_url: str, schema: str
) -> None:
    engine = create_engine(postgres_url, schema=schema)
    trail = AuditTrail(AuditStore(engine, Sealer(Keyring.generate())), checkpoint_every=0)
    admin = create_engine(postgres_url)
    acknowledged: list[str] = []
    stop = asyncio.Event()
    killed = 0

    async def writer(w: int) -> None:
        i = 0
        while not stop.is_set():
            event = AuditEvent(action="write", actor=f"w{w}", resource=str(i))
            try:
                await trail.record(event)
            except Exception:  # not acknowledged: allowed to be missing
                continue
            acknowledged.append(event.id)
            i += 1

    async def killer() -> None:
        nonlocal killed
        for _ in range(5):
            await asyncio.sleep(0.15)
            async with admin.begin() as conn:
                result = await conn.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                        "AND query NOT ILIKE '%pg_stat_activity%' "
                        "AND application_name = '' AND backend_type = 'client backend'"
                        " AND state IS NOT NULL"
                    )
                )
                killed += sum(1 for (ok,) in result if ok)
        stop.set()

    await asyncio.gather(killer(), *(writer(w) for w in range(4)))
    stored = {e.id for e in await trail.query(limit=None)}
    missing = set(acknowledged) - stored
    assert killed > 0  # the test really cut connections under the writers
    assert acknowledged
    assert not missing, f"{len(missing)} acknowledged events lost"
    report = await trail.verify()
    assert report.ok, report.describe()
    await engine.dispose()
    await admin.dispose()
