"""End to end on the embedded defaults: API keys, uploads, 202 then features/analysis."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from backbeat import Settings
from backbeat.cli import app as cli
from backbeat.server import create_app
from tests.audio._synth import RATE, groove

TRACK = "4uLU6hMCjMI75M1A2tKUQC"
ARTIST = "0OdUWJ0sBjDrqHygGUXeCF"


def _key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, scopes: str) -> str:
    monkeypatch.setenv("BACKBEAT_DATA_DIR", str(tmp_path))
    result = CliRunner().invoke(cli, ["apikey", "create", "--name", "tests", "--scopes", scopes])
    assert result.exit_code == 0, result.output
    return result.stdout.strip().splitlines()[-1]


def _wav(bpm: float = 120.0) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, groove(bpm, bars=6), RATE, format="WAV")
    return buffer.getvalue()


def _metadata(**extra: object) -> str:
    body = {"id": TRACK, "name": "Song", "artists": [{"id": ARTIST, "name": "Band"}]}
    body.update(extra)
    return json.dumps(body)


@pytest.fixture
def service(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    writer = _key(tmp_path, monkeypatch, "read,write")
    reader = _key(tmp_path, monkeypatch, "read")
    settings = Settings.from_env({"BACKBEAT_DATA_DIR": str(tmp_path)})
    with TestClient(create_app(settings)) as client:
        yield client, {"Authorization": f"Bearer {writer}"}, {"Authorization": f"Bearer {reader}"}


def _wait_for(client: TestClient, url: str, headers: dict[str, str]) -> dict[str, object]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        response = client.get(url, headers=headers)
        if response.status_code == 200:
            return response.json()  # type: ignore[no-any-return]
        assert response.status_code == 202, response.text
        assert response.headers["Retry-After"] == "2"
        time.sleep(0.2)
    raise AssertionError("analysis did not finish")


def test_upload_then_202_then_features_and_analysis(service) -> None:  # type: ignore[no-untyped-def]
    client, writer, reader = service
    response = client.post(
        "/v1/tracks",
        headers=writer,
        data={"metadata": _metadata(isrc="USRC17607839", genres=["rock"], popularity=40)},
        files={"audio": ("song.wav", _wav(), "audio/wav")},
    )
    assert response.status_code == 201, response.text
    assert response.json()["analysis"] == "queued"
    first = client.get(f"/v1/audio-features/{TRACK}", headers=reader)
    assert first.status_code in (200, 202)
    features = _wait_for(client, f"/v1/audio-features/{TRACK}", reader)
    assert features["type"] == "audio_features"
    assert features["id"] == TRACK
    assert abs(float(features["tempo"]) - 120.0) < 4.8  # type: ignore[arg-type]
    assert (features["key"], features["mode"]) == (0, 1)
    # The same track by URI, URL and ISRC.
    for alias in (
        f"spotify:track:{TRACK}",
        f"https://open.spotify.com/track/{TRACK}",
        "USRC17607839",
    ):
        assert client.get(f"/v1/audio-features/{alias}", headers=reader).json()["id"] == TRACK
    analysis = _wait_for(client, f"/v1/audio-analysis/{TRACK}", reader)
    assert {"track", "bars", "beats", "sections", "segments"} <= set(analysis)
    several = client.get(f"/v1/audio-features?ids={TRACK},{TRACK}", headers=reader)
    assert several.status_code == 200
    assert [f["id"] for f in several.json()["audio_features"]] == [TRACK, TRACK]
    track = client.get(f"/v1/tracks/{TRACK}", headers=reader).json()
    assert track["name"] == "Song"
    assert track["external_ids"] == {"isrc": "USRC17607839"}


def test_new_audio_invalidates_and_requeues(service) -> None:  # type: ignore[no-untyped-def]
    client, writer, reader = service
    client.post(
        "/v1/tracks",
        headers=writer,
        data={"metadata": _metadata()},
        files={"audio": ("a.wav", _wav(120.0), "audio/wav")},
    )
    assert abs(float(_wait_for(client, f"/v1/audio-features/{TRACK}", reader)["tempo"]) - 120) < 5  # type: ignore[arg-type]
    again = client.post(
        "/v1/tracks",
        headers=writer,
        data={"metadata": _metadata()},
        files={"audio": ("b.wav", _wav(90.0), "audio/wav")},
    )
    assert again.json()["analysis"] == "queued"
    assert abs(float(_wait_for(client, f"/v1/audio-features/{TRACK}", reader)["tempo"]) - 90) < 4  # type: ignore[arg-type]
    same = client.post(
        "/v1/tracks",
        headers=writer,
        data={"metadata": _metadata()},
        files={"audio": ("b.wav", _wav(90.0), "audio/wav")},
    )
    assert same.json()["analysis"] == "unchanged"


def test_auth_failures(service) -> None:  # type: ignore[no-untyped-def]
    client, writer, reader = service
    assert client.get(f"/v1/tracks/{TRACK}").status_code == 401
    bad = client.get(f"/v1/tracks/{TRACK}", headers={"Authorization": "Bearer bb_aaaaaaaa_nope"})
    assert bad.status_code == 401
    assert bad.json()["error"]["code"] == "security.unauthenticated"
    forbidden = client.post("/v1/tracks", headers=reader, data={"metadata": _metadata()})
    assert forbidden.status_code == 403
    assert forbidden.json()["error"]["code"] == "security.forbidden"
    key_id = writer["Authorization"].split("_")[1]
    assert CliRunner().invoke(cli, ["apikey", "revoke", key_id]).exit_code == 0
    assert (
        client.post("/v1/tracks", headers=writer, data={"metadata": _metadata()}).status_code == 401
    )


def test_bad_input_is_4xx_in_spotifys_shape(service) -> None:  # type: ignore[no-untyped-def]
    client, writer, reader = service
    cases = [
        client.get("/v1/audio-features/not-an-id!", headers=reader),
        client.get(f"/v1/audio-features/{TRACK}", headers=reader),  # unknown track
        client.get("/v1/audio-features?ids=" + ",".join([TRACK] * 101), headers=reader),
        client.post("/v1/tracks", headers=writer, data={"metadata": "{not json"}),
        client.post("/v1/tracks", headers=writer, data={"metadata": _metadata(popularity=101)}),
        client.post(
            "/v1/tracks",
            headers=writer,
            data={"metadata": _metadata()},
            files={"audio": ("x.mp3", b"\x00" * 2048, "audio/mpeg")},
        ),
    ]
    statuses = [r.status_code for r in cases]
    assert statuses == [400, 404, 400, 400, 400, 422], [r.text for r in cases]
    for response in cases:
        error = response.json()["error"]
        assert error["status"] == response.status_code
        assert error["message"]
        assert error["code"]
    french = client.get("/v1/audio-features/x!", headers={**reader, "Accept-Language": "fr"})
    assert french.headers["Content-Language"] == "fr"


def test_upload_size_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    writer = _key(tmp_path, monkeypatch, "write")
    settings = Settings.from_env(
        {"BACKBEAT_DATA_DIR": str(tmp_path), "BACKBEAT_MAX_UPLOAD_MB": "1"}
    )
    big = np.zeros(RATE * 20, np.float32)  # 20 s of float WAV: > 1 MB
    buffer = io.BytesIO()
    sf.write(buffer, big, RATE, format="WAV", subtype="FLOAT")
    with TestClient(create_app(settings)) as client:
        response = client.post(
            "/v1/tracks",
            headers={"Authorization": f"Bearer {writer}"},
            data={"metadata": _metadata()},
            files={"audio": ("big.wav", buffer.getvalue(), "audio/wav")},
        )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "validation.upload_too_large"
    assert not list((tmp_path / "media" / "tmp").iterdir())  # nothing left behind


def test_apikey_cli_prints_the_key_alone_on_the_last_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = _key(tmp_path, monkeypatch, "read,write")
    assert key.startswith("bb_")
    assert " " not in key
    listed = CliRunner().invoke(cli, ["apikey", "list"])
    assert "active" in listed.stdout
    assert "read,write" in listed.stdout
    assert key not in listed.stdout
    bad = CliRunner().invoke(cli, ["apikey", "create", "--name", "x", "--scopes", "root"])
    assert bad.exit_code != 0


@pytest.fixture
def queued(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """The app without its embedded worker, one track uploaded and queued."""
    writer = _key(tmp_path, monkeypatch, "read,write")
    headers = {"Authorization": f"Bearer {writer}"}
    settings = Settings.from_env(
        {"BACKBEAT_DATA_DIR": str(tmp_path), "BACKBEAT_EMBEDDED_WORKER": "false"}
    )
    with TestClient(create_app(settings)) as client:
        client.post(
            "/v1/tracks",
            headers=headers,
            data={"metadata": _metadata()},
            files={"audio": ("a.wav", _wav(), "audio/wav")},
        )
        yield client, headers


def test_a_separate_worker_processes_the_queue(queued) -> None:  # type: ignore[no-untyped-def]
    client, headers = queued
    pending = client.get(f"/v1/audio-features/{TRACK}", headers=headers)
    assert pending.status_code == 202
    assert pending.json()["status"] == "queued"
    done = CliRunner().invoke(cli, ["worker", "--once"])
    assert done.exit_code == 0, done.output
    assert "processed 1 job(s)" in done.stdout
    ready = client.get(f"/v1/audio-features/{TRACK}", headers=headers)
    assert ready.status_code == 200
    assert ready.json()["key"] == 0


def test_undecodable_stored_audio_fails_the_job_once(queued, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    client, headers = queued
    for stored in (tmp_path / "media").rglob("*.wav"):
        stored.write_bytes(b"RIFF broken since upload")
    CliRunner().invoke(cli, ["worker", "--once"])
    failed = client.get(f"/v1/audio-features/{TRACK}", headers=headers)
    assert failed.status_code == 422
    assert failed.json()["error"]["code"] == "audio.analysis_failed"


def test_recommendations_from_the_catalogue_honour_filters(service) -> None:  # type: ignore[no-untyped-def]
    client, writer, reader = service
    ids = ["0" * 21 + str(i) for i in range(6)]
    artists = ["1" * 21 + str(i % 2) for i in range(6)]
    tempos = [80.0, 90.0, 100.0, 120.0, 130.0, 140.0]
    for track_id, artist, bpm in zip(ids, artists, tempos, strict=True):
        metadata = {
            "id": track_id,
            "name": f"T{bpm}",
            "artists": [{"id": artist, "name": f"A{artist[-1]}"}],
            "genres": ["rock" if bpm < 110 else "house"],
            "popularity": 50,
        }
        assert (
            client.post(
                "/v1/tracks",
                headers=writer,
                data={"metadata": json.dumps(metadata)},
                files={"audio": (f"{bpm}.wav", _wav(bpm), "audio/wav")},
            ).status_code
            == 201
        )
    for track_id in ids:
        _wait_for(client, f"/v1/audio-features/{track_id}", reader)
    response = client.get(
        f"/v1/recommendations?seed_tracks={ids[0]}&seed_genres=house&limit=10&min_tempo=110",
        headers=reader,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    got = [t["id"] for t in body["tracks"]]
    assert got
    assert set(got) <= set(ids[3:])  # min_tempo=110 is a hard filter
    assert [s["type"] for s in body["seeds"]] == ["TRACK", "GENRE"]
    unknown = client.get("/v1/recommendations?seed_tracks=" + "7" * 22, headers=reader).json()
    assert unknown["seeds"][0]["initialPoolSize"] == 0
    too_many = client.get("/v1/recommendations?seed_genres=a,b,c,d,e,f", headers=reader)
    assert too_many.status_code == 400
    related = client.get(f"/v1/artists/{artists[0]}/related-artists", headers=reader)
    assert related.status_code == 200
    assert [a["id"] for a in related.json()["artists"]] == [artists[1]]


def test_events_are_stored_and_train_a_model(service, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    client, writer, reader = service
    other = "5" * 22
    events = [
        {
            "user": f"u{u}",
            "track": TRACK if u % 2 else f"spotify:track:{other}",
            "kind": "play",
            "timestamp": f"2026-11-{1 + u:02d}T10:00:00Z",
            "ms_played": 180000,
        }
        for u in range(20)
    ] + [{"user": "u1", "track": other, "kind": "like", "timestamp": "2026-11-23T10:00:00+01:00"}]
    response = client.post("/v1/events", headers=writer, json={"events": events})
    assert response.status_code == 202, response.text
    assert response.json() == {"accepted": 21}
    assert client.post("/v1/events", headers=reader, json={"events": events}).status_code == 403
    bad = client.post("/v1/events", headers=writer, json={"events": [{"user": "u", "track": "x!"}]})
    assert bad.status_code == 400
    assert bad.json()["error"]["code"].startswith("validation.")
    empty = client.post("/v1/events", headers=writer, json={"events": []})
    assert empty.status_code == 400
    trained = CliRunner().invoke(
        cli,
        [
            "recommend",
            "train",
            "--from-database",
            "--factors",
            "4",
            "--iterations",
            "2",
            "--registry",
            str(tmp_path / "models"),
        ],
    )
    assert trained.exit_code == 0, trained.output
    assert "20 users, 2 tracks" in trained.stdout


def test_rate_limits_per_key_with_retry_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _key(tmp_path, monkeypatch, "read")
    second = _key(tmp_path, monkeypatch, "read")
    settings = Settings.from_env(
        {"BACKBEAT_DATA_DIR": str(tmp_path), "BACKBEAT_RATE_LIMIT_READ": "3/minute"}
    )
    with TestClient(create_app(settings)) as client:
        url = f"/v1/tracks/{TRACK}"
        codes = [
            client.get(url, headers={"Authorization": f"Bearer {first}"}).status_code
            for _ in range(4)
        ]
        assert codes == [404, 404, 404, 429]
        refused = client.get(url, headers={"Authorization": f"Bearer {first}"})
        assert refused.json()["error"]["code"] == "ratelimit.exceeded"
        assert int(refused.headers["Retry-After"]) >= 1
        # Another key has its own budget; /health is never limited.
        assert client.get(url, headers={"Authorization": f"Bearer {second}"}).status_code == 404
        assert client.get("/health").status_code == 200


def test_bad_rate_limit_setting_is_a_configuration_error(tmp_path: Path) -> None:
    from backbeat.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="BACKBEAT_RATE_LIMIT_READ"):
        Settings.from_env({"BACKBEAT_DATA_DIR": str(tmp_path), "BACKBEAT_RATE_LIMIT_READ": "lots"})


def test_writes_are_audited_with_the_request_id_and_the_chain_verifies(
    service, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    client, writer, _reader = service
    response = client.post(
        "/v1/tracks", headers={**writer, "X-Request-ID": "req-123"}, data={"metadata": _metadata()}
    )
    assert response.status_code == 201
    assert response.headers["X-Request-ID"] == "req-123"
    generated = client.get("/health").headers["X-Request-ID"]
    assert len(generated) == 32
    client.post(
        "/v1/events",
        headers=writer,
        json={"events": [{"user": "u", "track": TRACK, "timestamp": "2026-11-01T00:00:00Z"}]},
    )
    exported = CliRunner().invoke(cli, ["audit", "export"])
    assert exported.exit_code == 0, exported.output
    events = [json.loads(line) for line in exported.stdout.splitlines() if line.startswith("{")]
    actions = [e["action"] for e in events]
    assert actions.count("apikey.create") == 2
    upsert = next(e for e in events if e["action"] == "track.upsert")
    assert upsert["request_id"] == "req-123"
    assert upsert["actor"].startswith("apikey:")
    assert upsert["resource"] == f"track:{TRACK}"
    assert "events.ingest" in actions
    verified = CliRunner().invoke(cli, ["audit", "verify"])
    assert verified.exit_code == 0, verified.output


def test_metrics_and_readiness(service) -> None:  # type: ignore[no-untyped-def]
    client, writer, reader = service
    client.post(
        "/v1/tracks",
        headers=writer,
        data={"metadata": _metadata()},
        files={"audio": ("a.wav", _wav(), "audio/wav")},
    )
    _wait_for(client, f"/v1/audio-features/{TRACK}", reader)
    client.get(f"/v1/audio-features/{TRACK}", headers=reader)  # served from the cache
    text = client.get("/metrics").text
    assert 'backbeat_http_requests_total{method="POST",route="/v1/tracks",status="201"} 1.0' in text
    assert 'route="/v1/audio-features/{track_id:path}"' in text
    assert "backbeat_analysis_duration_seconds_count 1.0" in text
    assert 'backbeat_analysis_jobs_total{outcome="done"} 1.0' in text
    assert "backbeat_analysis_queue_depth 0.0" in text
    assert 'backbeat_cache_requests_total{level="l1",result="hit"}' in text
    assert "backbeat_analysis_realtime_factor_count 1.0" in text
    assert 'backbeat_db_pool_connections{state="checked_out"}' in text
    ready = client.get("/ready")
    assert ready.status_code == 200
    assert ready.json()["ready"] is True


def test_cors_only_for_configured_origins(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {"BACKBEAT_DATA_DIR": str(tmp_path), "BACKBEAT_CORS_ORIGINS": "https://app.example.com"}
    )
    preflight = {
        "Origin": "https://app.example.com",
        "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "Authorization",
    }
    with TestClient(create_app(settings)) as client:
        allowed = client.options(f"/v1/audio-features/{TRACK}", headers=preflight)
        assert allowed.headers["access-control-allow-origin"] == "https://app.example.com"
        other = client.options(
            f"/v1/audio-features/{TRACK}", headers={**preflight, "Origin": "https://evil.example"}
        )
        assert "access-control-allow-origin" not in other.headers


def test_bulk_import_queues_analysis(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BACKBEAT_DATA_DIR", str(tmp_path / "data"))
    folder = tmp_path / "music"
    folder.mkdir()
    (folder / "a.wav").write_bytes(_wav(100.0))
    (folder / "bad.wav").write_bytes(b"not audio")
    lines = [
        {"id": TRACK, "name": "A", "artists": [{"id": ARTIST, "name": "Band"}], "audio": "a.wav"},
        {
            "id": "6" * 22,
            "name": "B",
            "artists": [{"id": ARTIST, "name": "Band"}],
            "audio": "bad.wav",
        },
        {"id": "not an id", "name": "C", "artists": []},
        {"id": "7" * 22, "name": "D", "artists": [{"id": ARTIST, "name": "Band"}]},
    ]
    manifest = folder / "tracks.jsonl"
    manifest.write_text("\n".join(json.dumps(x) for x in lines) + "\n{broken\n")
    result = CliRunner().invoke(cli, ["import", str(manifest)])
    assert result.exit_code == 0, result.output
    assert "imported 2 of 5 track(s); 1 analysis job(s) queued" in result.stdout
    assert (
        "line 2: skipped: The audio in bad.wav could not be decoded. [audio.decode_failed]"
        in result.stderr
    )
    assert not list((tmp_path / "data" / "media" / "tmp").iterdir())
    worker = CliRunner().invoke(cli, ["worker", "--once"])
    assert "processed 1 job(s)" in worker.stdout


def test_jwt_bearer_tokens_when_configured(tmp_path: Path) -> None:
    from backbeat.server import token_service

    secret = "s" * 40
    settings = Settings.from_env(
        {"BACKBEAT_DATA_DIR": str(tmp_path), "BACKBEAT_JWT_SECRET": secret}
    )
    tokens = token_service(secret)
    reader = tokens.issue("alice", claims={"scope": "read"})
    writer = tokens.issue("bob", claims={"scope": "read write"})
    expired = tokens.issue("carol", claims={"scope": "read"}, ttl=-120)
    other = token_service("x" * 40).issue("mallory", claims={"scope": "admin"})
    with TestClient(create_app(settings)) as client:

        def auth(token: str) -> dict[str, str]:
            return {"Authorization": f"Bearer {token}"}

        assert client.get(f"/v1/tracks/{TRACK}", headers=auth(reader)).status_code == 404
        assert (
            client.post(
                "/v1/tracks", headers=auth(reader), data={"metadata": _metadata()}
            ).status_code
            == 403
        )
        assert (
            client.post(
                "/v1/tracks", headers=auth(writer), data={"metadata": _metadata()}
            ).status_code
            == 201
        )
        assert client.get(f"/v1/tracks/{TRACK}", headers=auth(expired)).status_code == 401
        assert client.get(f"/v1/tracks/{TRACK}", headers=auth(other)).status_code == 401
    exported = CliRunner().invoke(
        cli, ["audit", "export"], env={"BACKBEAT_DATA_DIR": str(tmp_path)}
    )
    upserts = [json.loads(x) for x in exported.stdout.splitlines() if '"track.upsert"' in x]
    # an end user is named by an erasable reference in the audit trail, never by ID
    assert upserts[0]["actor"].startswith("jwt:subj_")
    assert "bob" not in upserts[0]["actor"]


def test_jwt_tokens_are_refused_when_not_configured(service) -> None:  # type: ignore[no-untyped-def]
    from backbeat.server import token_service

    client, _writer, _reader = service
    token = token_service("s" * 40).issue("alice", claims={"scope": "read"})
    assert (
        client.get(f"/v1/tracks/{TRACK}", headers={"Authorization": f"Bearer {token}"}).status_code
        == 401
    )


def test_server_side_paths_stay_inside_the_media_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer = _key(tmp_path / "data", monkeypatch, "read,write")
    media = tmp_path / "library"
    (media / "albums").mkdir(parents=True)
    (media / "albums" / "song.wav").write_bytes(_wav())
    (tmp_path / "secret.wav").write_bytes(_wav())
    settings = Settings.from_env(
        {"BACKBEAT_DATA_DIR": str(tmp_path / "data"), "BACKBEAT_MEDIA_ROOT": str(media)}
    )
    headers = {"Authorization": f"Bearer {writer}"}
    with TestClient(create_app(settings)) as client:
        ok = client.post(
            "/v1/tracks",
            headers=headers,
            data={"metadata": _metadata(), "audio_path": "albums/song.wav"},
        )
        assert ok.status_code == 201, ok.text
        assert ok.json()["analysis"] == "queued"
        for bad in ("../secret.wav", str(tmp_path / "secret.wav"), "albums/missing.wav", "albums"):
            refused = client.post(
                "/v1/tracks", headers=headers, data={"metadata": _metadata(), "audio_path": bad}
            )
            assert refused.status_code == 400, bad
            assert refused.json()["error"]["code"] == "validation.media_path"
        assert _wait_for(client, f"/v1/audio-features/{TRACK}", headers)["key"] == 0


def test_third_party_credentials_are_stored_encrypted_and_never_returned(
    service, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    import sqlite3

    client, writer, reader = service
    secret = "BQD-spotify-access-token-do-not-leak"
    body = {
        "access_token": secret,
        "refresh_token": "refresh-xyz",
        "scopes": ["user-read-email"],
        "expires_at": "2026-12-01T00:00:00Z",
    }
    assert client.put("/v1/me/credentials/spotify", headers=writer, json=body).status_code == 204
    assert client.put("/v1/me/credentials/spotify", headers=reader, json=body).status_code == 403
    got = client.get("/v1/me/credentials/spotify", headers=writer)
    assert got.status_code == 200
    assert got.json()["scopes"] == ["user-read-email"]
    assert got.json()["has_refresh_token"] is True
    assert got.json()["expires_at"].startswith("2026-12-01T00:00:00")
    assert secret not in got.text
    # Another key (another owner) sees nothing; bad provider names are 400.
    assert client.get("/v1/me/credentials/spotify", headers=reader).status_code == 404
    assert client.get("/v1/me/credentials/../x", headers=writer).status_code in (400, 404)
    with sqlite3.connect(tmp_path / "backbeat.db") as db:
        (ciphertext,) = db.execute("SELECT ciphertext FROM credentials").fetchone()
        dump = "\n".join(db.iterdump())
    assert secret not in dump
    assert "refresh-xyz" not in dump
    assert ciphertext
    exported = CliRunner().invoke(cli, ["audit", "export"])
    assert "credential.put" in exported.stdout
    assert secret not in exported.stdout
    assert client.delete("/v1/me/credentials/spotify", headers=writer).status_code == 204
    assert client.delete("/v1/me/credentials/spotify", headers=writer).status_code == 404


def test_the_catalogue_lists_pages_and_searches(service) -> None:  # type: ignore[no-untyped-def]
    client, writer, reader = service
    names = ["Zebra Song", "alpha 100%", "Beta_Track", "Gamma"]
    for i, name in enumerate(names):
        body = {
            "id": "2" * 21 + str(i),
            "name": name,
            "artists": [{"id": "3" * 21 + str(i), "name": f"Artist {i} Nova" if i == 2 else "X"}],
        }
        posted = client.post("/v1/tracks", headers=writer, data={"metadata": json.dumps(body)})
        assert posted.status_code == 201, posted.text
    first = client.get("/v1/tracks?limit=3", headers=reader).json()
    assert first["total"] == 4
    assert [t["name"] for t in first["items"]] == ["alpha 100%", "Beta_Track", "Gamma"]
    assert first["next"].endswith("limit=3&offset=3")
    assert first["previous"] is None
    assert all(t["analysis"] == "no_audio" for t in first["items"])
    second = client.get(first["next"], headers=reader).json()
    assert [t["name"] for t in second["items"]] == ["Zebra Song"]
    assert second["next"] is None
    search = client.get("/v1/tracks?q=nova", headers=reader).json()  # an artist's name
    assert [t["name"] for t in search["items"]] == ["Beta_Track"]
    assert client.get("/v1/tracks?q=100%25", headers=reader).json()["total"] == 1  # % literal
    assert client.get("/v1/tracks?q=a_t", headers=reader).json()["total"] == 1  # _ literal
    assert client.get("/v1/tracks?q=name", headers=reader).json()["total"] == 0  # not a key
    assert client.get("/v1/tracks?limit=0", headers=reader).status_code == 400
    silent = client.get(f"/v1/tracks/{'2' * 21}0/waveform", headers=reader)
    assert silent.status_code == 404
    assert silent.json()["error"]["code"] == "streaming.no_audio_stored"
    assert client.get("/v1/tracks").status_code == 401


def test_the_service_the_cli_and_analyze_report_the_same_features(service, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """One MP3 through the three doors a user has: ``POST /v1/tracks`` then
    ``/v1/audio-features``, ``backbeat analyze --format jsonl`` and ``analyze()``. Every
    Spotify field the toolkit computes reaches the service and the CLI unchanged."""
    from backbeat.audio import analyze
    from backbeat.spotify import AUDIO_FEATURES

    client, writer, reader = service
    path = tmp_path / "groove.mp3"
    sf.write(path, groove(104.0, bars=8), RATE, format="MP3")
    response = client.post(
        "/v1/tracks",
        headers=writer,
        data={"metadata": _metadata()},
        files={"audio": ("groove.mp3", path.read_bytes(), "audio/mpeg")},
    )
    assert response.status_code == 201, response.text
    served = _wait_for(client, f"/v1/audio-features/{TRACK}", reader)
    ran = CliRunner().invoke(cli, ["analyze", str(path), "--format", "jsonl"])
    assert ran.exit_code == 0, ran.output
    row = json.loads(ran.stdout)
    local = analyze(path)
    assert abs(local.tempo - 104.0) <= 0.04 * 104.0
    for name in AUDIO_FEATURES:
        expected = getattr(local, name)
        assert served[name] == pytest.approx(expected, abs=1e-3), name
        assert row[name] == pytest.approx(expected, abs=1e-3), name
