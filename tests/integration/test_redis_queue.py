"""Analysis jobs through the Redis queue (arq): upload, `backbeat worker --once`, 200."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from backbeat import Settings
from backbeat.cli import app as cli
from backbeat.server import create_app
from tests.integration._upload import TRACK, groove_wav, post_track

pytestmark = [pytest.mark.integration]


def test_jobs_travel_through_redis_to_a_worker(
    redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    queue = f"bbtest:{uuid.uuid4().hex[:8]}:analysis"
    env = {
        "BACKBEAT_DATA_DIR": str(tmp_path),
        "REDIS_URL": redis_url,
        "BACKBEAT_QUEUE_NAME": queue,
        "BACKBEAT_EMBEDDED_WORKER": "false",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    created = CliRunner().invoke(cli, ["apikey", "create", "--name", "q", "--scopes", "read,write"])
    headers = {"Authorization": "Bearer " + created.stdout.strip().splitlines()[-1]}
    audio = groove_wav()
    with TestClient(create_app(Settings.from_env(env))) as client:
        assert post_track(client, headers, audio).status_code == 201
        # Posting the same audio again enqueues nothing new (deterministic job id).
        again = post_track(client, headers, audio)
        assert again.json()["analysis"] == "unchanged"
        assert client.get(f"/v1/audio-features/{TRACK}", headers=headers).status_code == 202
        worked = CliRunner().invoke(cli, ["worker", "--once"])
        assert worked.exit_code == 0, worked.output
        assert "processed 1 job(s)" in worked.stdout
        ready = client.get(f"/v1/audio-features/{TRACK}", headers=headers)
        assert ready.status_code == 200
        assert ready.json()["key"] == 0


async def test_redis_jobs_are_json_and_idempotent(redis_url: str, redis_client) -> None:  # type: ignore[no-untyped-def]
    from backbeat.catalogue import RedisQueue

    name = f"bbtest:{uuid.uuid4().hex[:8]}:analysis"
    queue = RedisQueue(redis_url, name)
    try:
        await queue.enqueue("t1", "a" * 64)
        await queue.enqueue("t1", "a" * 64)  # same job id: not queued twice
        assert await redis_client.zcard(name) == 1
        raw = await redis_client.get(f"arq:job:analyze:t1:{'a' * 64}")
        assert json.loads(raw)["a"] == ["t1", "a" * 64]  # JSON, not pickle
    finally:
        await queue.aclose()
        await redis_client.delete(name, f"arq:job:analyze:t1:{'a' * 64}")


pytestmark.append(pytest.mark.anyio)
