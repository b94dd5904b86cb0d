from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from backbeat import Settings
from backbeat.server import create_app


def client(tmp_path: Path, **env: str) -> TestClient:
    settings = Settings.from_env({"BACKBEAT_DATA_DIR": str(tmp_path), **env})
    return TestClient(create_app(settings))


def test_health_is_ok_on_embedded_defaults(tmp_path: Path) -> None:
    with client(tmp_path) as c:
        r = c.get("/health")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok"
    assert body["backends"]["database"]["kind"] == "sqlite"
    assert body["backends"]["database"]["status"] == "ok"


def test_health_is_503_when_a_configured_backend_is_down(tmp_path: Path) -> None:
    with client(tmp_path, REDIS_URL="redis://127.0.0.1:1/0") as c:
        r = c.get("/health")
    assert r.status_code == 503
    assert r.json()["status"] == "degraded"
    assert r.json()["backends"]["redis"]["status"] == "down"


def test_openapi_document_lists_health(tmp_path: Path) -> None:
    with client(tmp_path) as c:
        doc = c.get("/openapi.json").json()
    assert doc["info"]["title"] == "backbeat"
    assert "/health" in doc["paths"]


def test_our_errors_use_spotifys_error_shape(tmp_path: Path) -> None:
    from backbeat.errors import RateLimited

    app = create_app(Settings.from_env({"BACKBEAT_DATA_DIR": str(tmp_path)}))

    @app.get("/limited")
    async def limited() -> None:
        raise RateLimited(retry_after=2.2)

    with TestClient(app) as c:
        r = c.get("/limited")
    assert r.status_code == 429
    assert r.headers["Retry-After"] == "2"
    assert r.json()["error"]["status"] == 429
    assert r.json()["error"]["code"] == "ratelimit.exceeded"


def test_embedded_database_is_migrated_on_start(tmp_path: Path) -> None:
    import sqlite3

    with client(tmp_path) as c:
        c.get("/health")
    with sqlite3.connect(tmp_path / "backbeat.db") as db:
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"audit_events", "audit_chain_heads", "alembic_version"} <= tables


def test_error_messages_follow_accept_language(tmp_path: Path) -> None:
    from backbeat.validation import parse_spotify_ref

    app = create_app(Settings.from_env({"BACKBEAT_DATA_DIR": str(tmp_path)}))

    @app.get("/ref/{value}")
    async def ref(value: str) -> dict[str, str]:
        return {"uri": parse_spotify_ref(value).uri}

    with TestClient(app) as c:
        fr = c.get("/ref/nope", headers={"Accept-Language": "fr-CH, fr;q=0.9, en;q=0.5"})
        he = c.get("/ref/nope", headers={"Accept-Language": "he"})
        plain = c.get("/ref/nope")
    assert fr.status_code == 400
    assert fr.headers["Content-Language"] == "fr"
    assert "n'est ni un identifiant" in fr.json()["error"]["message"]
    assert fr.json()["error"]["code"] == "validation.spotify_ref"
    assert "אינו מזהה" in he.json()["error"]["message"]
    assert plain.headers["Content-Language"] == "en-US"
    assert "is not a Spotify ID" in plain.json()["error"]["message"]


def test_unknown_routes_use_the_error_shape_in_the_negotiated_language(tmp_path: Path) -> None:
    with client(tmp_path) as c:
        r = c.get("/no/such/route", headers={"Accept-Language": "ja"})
    assert r.status_code == 404
    assert r.json() == {
        "error": {"status": 404, "message": "見つかりません。", "code": "not_found"}
    }


def test_health_reports_the_queue_and_the_embedded_worker(tmp_path: Path) -> None:
    import time

    with client(tmp_path) as c:
        deadline = time.monotonic() + 10
        while True:  # the embedded worker beats as soon as it starts
            analysis = c.get("/health").json()["analysis"]
            if analysis["workers"] or time.monotonic() > deadline:
                break
            time.sleep(0.05)
    assert (analysis["queued"], analysis["running"], analysis["failed"]) == (0, 0, 0)
    assert analysis["oldest_queued_age_s"] is None
    assert analysis["embedded_worker"] is True
    (worker,) = analysis["workers"]
    assert worker["mode"] == "embedded"
    assert worker["processed"] == 0


def test_health_lists_no_worker_when_none_runs(tmp_path: Path) -> None:
    with client(tmp_path, BACKBEAT_EMBEDDED_WORKER="false") as c:
        analysis = c.get("/health").json()["analysis"]
    assert analysis["embedded_worker"] is False
    assert analysis["workers"] == []
