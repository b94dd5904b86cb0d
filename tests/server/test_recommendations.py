"""``/v1/recommendations`` served by the registry's production model, end to end over HTTP."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from backbeat import Settings
from backbeat.cli import app as cli
from backbeat.server import create_app

ARTIST = "0OdUWJ0sBjDrqHygGUXeCF"
GROUP_X = [f"X{i:021d}" for i in range(12)]
GROUP_Y = [f"Y{i:021d}" for i in range(12)]


def _key(scopes: str) -> str:
    made = CliRunner().invoke(cli, ["apikey", "create", "--name", "t", "--scopes", scopes])
    assert made.exit_code == 0, made.output
    return made.stdout.strip().splitlines()[-1]


@pytest.fixture
def planted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Two groups of tracks nobody can tell apart by content (same artist, genre, no audio),
    and 30 users each listening to one group only."""
    monkeypatch.setenv("BACKBEAT_DATA_DIR", str(tmp_path))
    headers = {"Authorization": f"Bearer {_key('read,write')}"}
    settings = Settings.from_env(
        {"BACKBEAT_DATA_DIR": str(tmp_path), "BACKBEAT_RATE_LIMIT_WRITE": "1000/s"}
    )
    with TestClient(create_app(settings)) as client:
        client.headers.update(headers)
        for track in GROUP_X + GROUP_Y:
            meta = {"id": track, "name": track, "artists": [{"id": ARTIST, "name": "Same"}]}
            meta["genres"] = ["house"]
            response = client.post("/v1/tracks", data={"metadata": json.dumps(meta)})
            assert response.status_code == 201, response.text
        rng = random.Random(5)
        events = []
        for u in range(30):
            group = GROUP_X if u % 2 == 0 else GROUP_Y
            for n, track in enumerate(rng.sample(group, 8)):
                stamp = f"2026-11-{1 + n:02d}T20:00:00Z"
                events.append({"user": f"user-{u}", "track": track, "timestamp": stamp})
        assert client.post("/v1/events", json={"events": events}).status_code == 202
        yield client


def _share_of_x(client: TestClient) -> tuple[float, str]:
    response = client.get(f"/v1/recommendations?seed_tracks={GROUP_X[0]}&limit=8")
    assert response.status_code == 200, response.text
    ids = [t["id"] for t in response.json()["tracks"]]
    assert len(ids) == 8
    return sum(t in GROUP_X for t in ids) / len(ids), response.headers["X-Backbeat-Model"]


def test_a_promoted_model_makes_recommendations_follow_co_listening(planted) -> None:  # type: ignore[no-untyped-def]
    client = planted
    share, model = _share_of_x(client)
    assert model == "content"  # nothing trained yet: content cannot tell X from Y
    trained = CliRunner().invoke(
        cli,
        ["recommend", "train", "--from-database", "--promote", "--factors", "8"],
    )
    assert trained.exit_code == 0, trained.output
    assert "(production)" in trained.stdout
    import time

    time.sleep(1.1)  # the production pointer is re-read at most once a second
    share, model = _share_of_x(client)  # same app, no restart
    assert model == "v1"
    assert share >= 0.85
    health = client.get("/health").json()["recommendations"]
    assert health == {"model": "recommendation", "production_version": 1, "serving": "v1"}
