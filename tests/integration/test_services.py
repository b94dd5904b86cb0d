"""Prove that the suite reaches the real Redis and PostgreSQL (CI requires both)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from backbeat import Settings, Toolkit

pytestmark = [pytest.mark.anyio, pytest.mark.integration]


async def test_redis_round_trip(redis_client: Any, key_prefix: str) -> None:
    key = key_prefix + "hello"
    await redis_client.set(key, b"world", ex=60)
    assert await redis_client.get(key) == b"world"


async def test_toolkit_reports_real_redis_healthy(redis_url: str, tmp_path: Path) -> None:
    settings = Settings.from_env({"REDIS_URL": redis_url, "BACKBEAT_DATA_DIR": str(tmp_path)})
    async with Toolkit(settings) as tk:
        report = await tk.health()
        assert await tk.redis_client().ping()
    redis = next(b for b in report.backends if b.name == "redis")
    assert redis.status == "ok"
    assert report.status == "ok"


async def test_toolkit_on_real_postgresql(postgres_url: str) -> None:
    from sqlalchemy import text

    schema = f"bbtest_{uuid.uuid4().hex[:12]}"
    async with Toolkit(Settings.from_env({"DATABASE_URL": postgres_url})) as tk:
        report = await tk.health()
        assert report.backends[0].kind == "postgresql"
        assert report.backends[0].status == "ok"
        engine = tk.database_engine()
        async with engine.begin() as conn:
            await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        try:
            async with engine.begin() as conn:
                await conn.execute(text(f'CREATE TABLE "{schema}".t (x int)'))
                await conn.execute(text(f'INSERT INTO "{schema}".t VALUES (41), (1)'))
                total = (await conn.execute(text(f'SELECT sum(x) FROM "{schema}".t'))).scalar()
            assert total == 42
        finally:
            async with engine.begin() as conn:
                await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
