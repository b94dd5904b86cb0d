"""Redis stops mid-test: reads keep working (L1 / database), the limiter follows its setting.

Uses the ``private_redis`` fixture (tests/conftest.py): a redis-server of the test's own.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from backbeat import Settings
from backbeat.cli import app as cli
from backbeat.server import create_app
from tests.integration._upload import TRACK, groove_wav, post_track

pytestmark = [pytest.mark.integration]


@pytest.mark.parametrize("fail_open", [True, False])
def test_reads_survive_redis_going_away(
    private_redis: tuple[int, Any, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fail_open: bool,
) -> None:
    port, _start, stop = private_redis
    url = f"redis://127.0.0.1:{port}/0"
    monkeypatch.setenv("BACKBEAT_DATA_DIR", str(tmp_path))
    created = CliRunner().invoke(cli, ["apikey", "create", "--name", "r", "--scopes", "read,write"])
    headers = {"Authorization": "Bearer " + created.stdout.strip().splitlines()[-1]}
    settings = Settings.from_env(
        {
            "BACKBEAT_DATA_DIR": str(tmp_path),
            "REDIS_URL": url,
            "BACKBEAT_RATE_LIMIT_FAIL_OPEN": str(fail_open).lower(),
        }
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        assert post_track(client, headers, groove_wav()).status_code == 201
        deadline = time.monotonic() + 60
        while client.get(f"/v1/audio-features/{TRACK}", headers=headers).status_code != 200:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        stop()  # Redis goes away
        responses = [
            client.get(f"/v1/audio-features/{TRACK}", headers=headers),
            client.get(f"/v1/audio-analysis/{TRACK}", headers=headers),
            client.get(f"/v1/tracks/{TRACK}", headers=headers),
        ]
        statuses = [r.status_code for r in responses]
        assert all(s < 500 or s == 503 for s in statuses), statuses
        if fail_open:
            assert statuses == [200, 200, 200], [r.text for r in responses]
            assert responses[0].json()["key"] == 0
        else:
            assert statuses == [503, 503, 503]
            assert responses[0].json()["error"]["status"] == 503
        health = client.get("/health")
        assert health.status_code == 503
        assert health.json()["backends"]["redis"]["status"] == "down"
