"""An audit trail on each backend: SQLite always, PostgreSQL (own schema) when reachable."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text

from backbeat.audit import AuditStore, AuditTrail, Sealer
from backbeat.security import Keyring
from backbeat.storage import create_engine, upgrade

from ..conftest import DATABASE_URL, need_service


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    if request.param == "postgresql":
        need_service("PostgreSQL", DATABASE_URL)
    return str(request.param)


@pytest.fixture
def keyring() -> Keyring:
    return Keyring.generate()


@pytest.fixture
async def store(backend: str, tmp_path: Path, keyring: Keyring) -> AsyncIterator[AuditStore]:
    if backend == "sqlite":
        engine = create_engine(f"sqlite:///{tmp_path / 'audit.db'}")
        await upgrade(engine)
        yield AuditStore(engine, Sealer(keyring))
        await engine.dispose()
        return
    schema = f"bbtest_{uuid.uuid4().hex[:12]}"
    admin = create_engine(DATABASE_URL)
    async with admin.begin() as conn:
        await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = create_engine(DATABASE_URL, schema=schema)
    try:
        await upgrade(engine)
        yield AuditStore(engine, Sealer(keyring))
    finally:
        await engine.dispose()
        async with admin.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        await admin.dispose()


@pytest.fixture
async def trail(store: AuditStore) -> AsyncIterator[AuditTrail]:
    t = AuditTrail(store, checkpoint_every=0)
    yield t
    await t.aclose()
