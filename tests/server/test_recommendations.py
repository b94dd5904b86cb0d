"""``/v1/recommendations`` served by the registry's production model, end to end over HTTP."""

from __future__ import annotations

import json
import random
import time
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


def _plant(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, artists_per_group: int, **env: str):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("BACKBEAT_DATA_DIR", str(tmp_path))
    headers = {"Authorization": f"Bearer {_key('read,write')}"}
    settings = Settings.from_env(
        {
            "BACKBEAT_DATA_DIR": str(tmp_path),
            "BACKBEAT_RATE_LIMIT_WRITE": "1000/s",
            "BACKBEAT_RATE_LIMIT_READ": "10000/s",
            **env,
        }
    )
    with TestClient(create_app(settings)) as client:
        client.headers.update(headers)
        for group, tracks in (("X", GROUP_X), ("Y", GROUP_Y)):
            for i, track in enumerate(tracks):
                artist = ARTIST if artists_per_group == 1 else _artist(group, i % artists_per_group)
                meta = {"id": track, "name": track, "artists": [{"id": artist, "name": artist}]}
                meta["genres"] = ["house"]
                response = client.post("/v1/tracks", data={"metadata": json.dumps(meta)})
                assert response.status_code == 201, response.text
        assert client.post("/v1/events", json={"events": planted_events()}).status_code == 202
        yield client


def planted_events() -> list[dict[str, object]]:
    """30 users, even ones listening to 8 tracks of X, odd ones to 8 of Y, one a day."""
    rng, now = random.Random(5), time.time()
    events: list[dict[str, object]] = []
    for u in range(30):
        group = GROUP_X if u % 2 == 0 else GROUP_Y
        for n, track in enumerate(rng.sample(group, 8)):
            events.append({"user": f"user-{u}", "track": track, "timestamp": now - 86400 * (9 - n)})
    return events


def _artist(group: str, i: int) -> str:
    return f"{group}{i:021d}"


@pytest.fixture
def planted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Two groups of tracks nobody can tell apart by content (same artist, genre, no audio),
    and 30 users each listening to one group only (8 tracks each, one a day)."""
    yield from _plant(tmp_path, monkeypatch, 1)


@pytest.fixture
def planted_artists(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """The same, with four artists per group (three tracks each)."""
    yield from _plant(tmp_path, monkeypatch, 4)


def _train() -> None:
    trained = CliRunner().invoke(
        cli, ["recommend", "train", "--from-database", "--promote", "--factors", "8"]
    )
    assert trained.exit_code == 0, trained.output
    time.sleep(1.1)  # the production pointer is re-read at most once a second


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
    time.sleep(1.1)  # the production pointer is re-read at most once a second
    share, model = _share_of_x(client)  # same app, no restart
    assert model == "v1"
    assert share >= 0.85
    health = client.get("/health").json()["recommendations"]
    assert health == {"model": "recommendation", "production_version": 1, "serving": "v1"}


def _heard(client: TestClient, user: str) -> set[str]:
    page = client.get(f"/v1/users/{user}/top/tracks?time_range=long_term&limit=50").json()
    return {t["id"] for t in page["items"]}


def test_top_tracks_and_artists_rank_by_listens_in_spotify_paging(planted_artists) -> None:  # type: ignore[no-untyped-def]
    client = planted_artists
    favourite = sorted(_heard(client, "user-0"))[0]
    again = [{"user": "user-0", "track": favourite, "timestamp": time.time() - 60}] * 3
    again.append({"user": "user-0", "track": favourite, "kind": "skip", "timestamp": time.time()})
    assert client.post("/v1/events", json={"events": again}).status_code == 202
    page = client.get("/v1/users/user-0/top/tracks?limit=3").json()
    assert page["total"] == 8
    assert page["items"][0]["id"] == favourite
    assert len(page["items"]) == 3
    assert page["next"] == "/v1/users/user-0/top/tracks?limit=3&offset=3"
    assert page["previous"] is None
    short = client.get("/v1/users/user-0/top/tracks?time_range=short_term&limit=50").json()
    assert short["total"] == 8  # every play is within four weeks
    artists = client.get("/v1/users/user-0/top/artists").json()
    assert {a["id"] for a in artists["items"]} <= {_artist("X", i) for i in range(4)}
    assert artists["items"][0]["id"] in {
        a["id"] for a in client.get(f"/v1/tracks/{favourite}").json()["artists"]
    }
    nobody = client.get("/v1/users/nobody/top/tracks").json()
    assert (nobody["total"], nobody["items"]) == (0, [])
    bad = client.get("/v1/users/user-0/top/tracks?time_range=forever")
    assert bad.status_code == 400


def test_recently_played_pages_backwards_with_a_cursor(planted) -> None:  # type: ignore[no-untyped-def]
    client = planted
    first = client.get("/v1/users/user-1/recently-played?limit=5").json()
    played = [item["played_at"] for item in first["items"]]
    assert len(played) == 5
    assert played == sorted(played, reverse=True)
    rest = client.get(first["next"]).json()
    assert len(rest["items"]) == 3
    assert rest["items"][0]["played_at"] < played[-1]
    assert rest["next"] is None


def test_a_users_recommendations_are_unheard_tracks_of_their_taste(planted) -> None:  # type: ignore[no-untyped-def]
    client = planted
    _train()
    heard = _heard(client, "user-0")
    response = client.get("/v1/users/user-0/recommendations?limit=4")
    assert response.headers["X-Backbeat-Model"] == "v1"
    picks = [t["id"] for t in response.json()["tracks"]]
    assert len(picks) == 4
    assert not set(picks) & heard
    assert sum(t in GROUP_X for t in picks) >= 3
    newcomer = client.get("/v1/users/newcomer/recommendations?limit=5").json()["tracks"]
    assert len(newcomer) == 5  # no history: the most popular


def test_discover_weekly_is_unheard_capped_explained_and_stable_in_its_week(  # type: ignore[no-untyped-def]
    planted_artists,
) -> None:
    client = planted_artists
    _train()
    heard = _heard(client, "user-0")
    first = client.get("/v1/users/user-0/discover-weekly").json()
    assert set(first) == {"tracks", "week", "model"}
    assert len(first["week"]) == 8
    assert first["week"][4:6] == "-W"
    ids = [t["id"] for t in first["tracks"]]
    assert ids
    assert not set(ids) & heard
    per_artist: dict[str, int] = {}
    for track in first["tracks"]:
        assert track["type"] == "track"
        assert track["seeds"]
        assert set(track["seeds"]) <= heard
        for artist in track["artists"]:
            per_artist[artist["id"]] = per_artist.get(artist["id"], 0) + 1
    assert max(per_artist.values()) <= 2
    _train()  # a new production model mid-week changes nothing this week
    assert client.get("/v1/users/user-0/discover-weekly").json() == {**first, "model": "v1"}
    later = client.get("/v1/users/user-0/discover-weekly?week=2031-W02").json()
    assert later["week"] == "2031-W02"
    assert later["model"] == "v2"
    assert [t["id"] for t in later["tracks"]] != ids
    assert client.get("/v1/users/user-0/discover-weekly?week=2026-W99").status_code == 400


def test_an_admin_trains_through_the_service_and_the_model_takes_over(planted) -> None:  # type: ignore[no-untyped-def]
    client = planted
    reader = client.post("/v1/admin/models/train", json={"factors": 8})
    assert reader.status_code == 403  # a read/write key is not an admin key
    admin = {"Authorization": f"Bearer {_key('admin')}"}
    queued = client.post("/v1/admin/models/train", json={"factors": 8}, headers=admin)
    assert queued.status_code == 202, queued.text
    job = queued.json()
    assert job["status"] == "queued"
    assert queued.headers["Location"] == f"/v1/admin/models/train/{job['id']}"
    deadline = time.monotonic() + 60
    while job["status"] in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(0.1)
        job = client.get(queued.headers["Location"], headers=admin).json()
    assert job["status"] == "done", job
    assert job["result"]["version"] == 1
    assert job["result"]["promoted"] is True
    assert job["result"]["events"] == 240
    time.sleep(1.1)
    share, model = _share_of_x(client)
    assert model == "v1"
    assert share >= 0.85
    listed = client.get("/v1/admin/models", headers=admin).json()
    assert listed["production_version"] == 1
    assert [v["version"] for v in listed["versions"]] == [1]
    assert "ndcg@10" in listed["versions"][0]["metrics"]


def test_a_scheduled_retrain_trains_and_promotes_on_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 0.0002 h: a retrain is due at start and every 0.72 s after.
    for client in _plant(tmp_path, monkeypatch, 1, BACKBEAT_RETRAIN_INTERVAL_H="0.0002"):
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            health = client.get("/health").json()["recommendations"]
            if health["production_version"] is not None:
                break
            time.sleep(0.2)
        assert health["production_version"] is not None
        share, model = _share_of_x(client)
        assert model.startswith("v")
        assert share >= 0.85


def test_promotions_while_requests_are_in_flight_never_fail_or_mix(planted, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import threading

    from backbeat.recommend import ModelRegistry

    client = planted
    for model in ("hybrid", "item_cooccurrence", "als"):
        made = CliRunner().invoke(
            cli, ["recommend", "train", "--from-database", "--model", model, "--factors", "4"]
        )
        assert made.exit_code == 0, made.output
    registry = ModelRegistry(tmp_path / "models")
    url = f"/v1/recommendations?seed_tracks={GROUP_X[0]}&limit=10"
    expected: dict[str, list[str]] = {}
    for version in (1, 2, 3):  # what each version answers, alone
        registry.promote("recommendation", version)
        time.sleep(1.1)
        response = client.get(url)
        expected[response.headers["X-Backbeat-Model"]] = [
            t["id"] for t in response.json()["tracks"]
        ]
    assert set(expected) == {"v1", "v2", "v3"}
    seen: list[tuple[int, str, list[str]]] = []
    stop = threading.Event()

    def ask() -> None:
        while not stop.is_set():
            r = client.get(url)
            ids = [t["id"] for t in r.json()["tracks"]] if r.status_code == 200 else []
            seen.append((r.status_code, r.headers.get("X-Backbeat-Model", ""), ids))

    askers = [threading.Thread(target=ask) for _ in range(4)]
    for t in askers:
        t.start()
    for version in (1, 2, 3, 1):
        registry.promote("recommendation", version)
        time.sleep(1.3)
    stop.set()
    for t in askers:
        t.join()
    assert len(seen) > 20
    assert {status for status, _, _ in seen} == {200}
    for _, model, ids in seen:
        assert ids == expected[model]  # wholly one version's answer
    assert {"v1", "v2", "v3"} <= {model for _, model, _ in seen}
