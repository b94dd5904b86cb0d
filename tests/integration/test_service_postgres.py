"""The service on PostgreSQL + Redis, with analysis in a separate `backbeat worker` process."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from backbeat import Settings
from backbeat.server import create_app
from tests.integration._upload import TRACK, groove_wav, post_track

pytestmark = [pytest.mark.integration]


@pytest.fixture
def database(postgres_url: str) -> Iterator[str]:
    """A fresh database of this test's own (dropped afterwards)."""
    import asyncpg

    name = f"bbtest_{uuid.uuid4().hex[:12]}"
    plain = postgres_url.replace("+asyncpg", "")

    async def admin(statement: str) -> None:
        conn = await asyncpg.connect(plain)
        try:
            await conn.execute(statement)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        yield plain.rsplit("/", 1)[0] + "/" + name
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    backbeat = str(Path(sys.executable).with_name("backbeat"))
    return subprocess.run([backbeat, *args], env=env, capture_output=True, text=True, timeout=120)


def test_service_on_postgres_and_redis_with_a_worker_process(
    database: str, redis_url: str, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "DATABASE_URL": database,
        "REDIS_URL": redis_url,
        "BACKBEAT_DATA_DIR": str(tmp_path),
        "BACKBEAT_EMBEDDED_WORKER": "false",
    }
    assert _cli(env, "db", "upgrade").returncode == 0
    created = _cli(env, "apikey", "create", "--name", "it", "--scopes", "read,write")
    assert created.returncode == 0, created.stderr
    headers = {"Authorization": "Bearer " + created.stdout.strip().splitlines()[-1]}
    settings = Settings.from_env(
        {
            k: env[k]
            for k in ("DATABASE_URL", "REDIS_URL", "BACKBEAT_DATA_DIR", "BACKBEAT_EMBEDDED_WORKER")
        }
    )
    with TestClient(create_app(settings)) as client:
        posted = post_track(client, headers, groove_wav(), name="Song", artist="Band")
        assert posted.status_code == 201, posted.text
        assert client.get(f"/v1/audio-features/{TRACK}", headers=headers).status_code == 202
        worker = _cli(env, "worker", "--once")
        assert worker.returncode == 0, worker.stderr
        assert "processed 1 job(s)" in worker.stdout
        features = client.get(f"/v1/audio-features/{TRACK}", headers=headers)
        assert features.status_code == 200, features.text
        assert (features.json()["key"], features.json()["mode"]) == (0, 1)
        assert client.get(f"/v1/audio-analysis/{TRACK}", headers=headers).status_code == 200
        recs = client.get(f"/v1/recommendations?seed_tracks={TRACK}", headers=headers)
        assert recs.status_code == 200
        events = {"events": [{"user": "u1", "track": TRACK, "timestamp": "2026-11-01T00:00:00Z"}]}
        assert client.post("/v1/events", headers=headers, json=events).status_code == 202
        assert client.get("/ready").json()["ready"] is True
    verified = _cli(env, "audit", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
