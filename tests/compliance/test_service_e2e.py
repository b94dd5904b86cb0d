"""Privacy end to end as a new user meets it: a real ``backbeat serve`` (its log captured),
the HTTP API, the outbox, the CLI.

A user listens (events), links a token as themselves (a JWT: the audit trail names the
actor), gives consent, asks for their data (the code comes by mail: an ``.eml`` in the
outbox), downloads the ZIP, asks for erasure; then ``backbeat privacy verify-erasure``
finds their ID nowhere (database, Redis, data folder, the service's log) and ``backbeat
audit verify`` still passes.
"""

from __future__ import annotations

import email
import io
import json
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import httpx2 as httpx
import pytest

from tests._http import wait_http
from tests.conftest import REDIS_URL, need_service

BACKBEAT = str(Path(sys.executable).with_name("backbeat"))
USER = "erin-5c1e9b"
TRACK = "4uLU6hMCjMI75M1A2tKUQC"


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [BACKBEAT, *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def _code(outbox: Path, request_id: str) -> str:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for path in sorted(outbox.glob("*.eml")):
            message = email.message_from_bytes(path.read_bytes())
            body = message.get_payload(decode=True).decode()
            if request_id in body:
                return next(
                    line.split("code:")[1].strip() for line in body.splitlines() if "code:" in line
                )
        time.sleep(0.1)
    raise AssertionError("no verification mail")


def test_a_user_exports_then_erases_and_nothing_remains(tmp_path: Path, free_port: int) -> None:
    need_service("Redis", REDIS_URL)
    from backbeat.server import token_service

    secret = "s" * 40
    env = {
        **os.environ,
        "BACKBEAT_DATA_DIR": str(tmp_path / "var"),
        "BACKBEAT_LOG_FORMAT": "json",
        "BACKBEAT_LOG_LEVEL": "INFO",
        "BACKBEAT_JWT_SECRET": secret,
        "REDIS_URL": REDIS_URL,
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    created = _cli(env, "apikey", "create", "--name", "app", "--scopes", "admin")
    assert created.returncode == 0, created.stderr
    key = {"Authorization": f"Bearer {created.stdout.strip().splitlines()[-1]}"}
    jwt = token_service(secret).issue(USER, claims={"scope": "read write"}, ttl=600)
    as_user = {"Authorization": f"Bearer {jwt}"}
    log = tmp_path / "serve.log"
    base = f"http://127.0.0.1:{free_port}"
    with log.open("wb") as sink:
        serve = subprocess.Popen(
            [BACKBEAT, "serve", "--port", str(free_port)], env=env, stdout=sink, stderr=sink
        )
        try:
            wait_http(f"{base}/health", serve, "backbeat serve")
            with httpx.Client(base_url=base, timeout=30) as client:
                events = [
                    {"user": USER, "track": TRACK, "timestamp": f"2026-11-{d:02d}T10:00:00Z"}
                    for d in range(1, 21)
                ]
                assert (
                    client.post("/v1/events", json={"events": events}, headers=key).status_code
                    == 202
                )
                linked = client.put(
                    "/v1/me/credentials/spotify",
                    json={"access_token": "tok-abc", "scopes": ["user-read-email"]},
                    headers=as_user,
                )
                assert linked.status_code == 204, linked.text
                assert client.get(f"/v1/users/{USER}/top/tracks", headers=key).status_code == 200
                consent = client.put(
                    f"/v1/privacy/consents/{USER}",
                    json={"purpose": "personalization", "status": "given", "notice_version": "v2"},
                    headers=key,
                )
                assert consent.status_code == 200, consent.text
                assert (
                    client.get(f"/v1/privacy/consents/{USER}", headers=key).json()["consents"][
                        "personalization"
                    ]["status"]
                    == "given"
                )

                opened = client.post(
                    "/v1/privacy/requests",
                    json={"user": USER, "type": "access", "email": "erin@example.net"},
                    headers=key,
                )
                assert opened.status_code == 202, opened.text
                body = opened.json()
                assert body["status"] == "pending_verification"
                assert set(body) == {"id", "type", "status", "received_at", "due_at"}
                rid = body["id"]
                assert (
                    client.get(f"/v1/privacy/requests/{rid}/export", headers=key).status_code == 409
                )
                wrong = client.post(
                    f"/v1/privacy/requests/{rid}/verify", json={"token": "x.y.1"}, headers=key
                )
                assert wrong.status_code == 401
                assert wrong.json()["error"]["code"] == "privacy.token_invalid"
                code = _code(tmp_path / "var" / "outbox", rid)
                done = client.post(
                    f"/v1/privacy/requests/{rid}/verify", json={"token": code}, headers=key
                )
                assert done.status_code == 200, done.text
                assert done.json()["status"] == "completed"
                zipped = client.get(f"/v1/privacy/requests/{rid}/export", headers=key)
                assert zipped.status_code == 200
                assert zipped.headers["content-type"] == "application/zip"
                archive = zipfile.ZipFile(io.BytesIO(zipped.content))
                assert len(json.loads(archive.read("listening_events.json"))) == 20
                assert "tok-abc" not in zipped.content.decode("latin-1")

                erase = client.post(
                    "/v1/privacy/requests",
                    json={"user": USER, "type": "erasure", "email": "erin@example.net"},
                    headers=key,
                ).json()
                code = _code(tmp_path / "var" / "outbox", erase["id"])
                done = client.post(
                    f"/v1/privacy/requests/{erase['id']}/verify",
                    json={"token": code},
                    headers=key,
                )
                assert done.status_code == 200, done.text
                assert done.json()["outcome"]["erased"]["listening_events"] == 20
                again = client.post("/v1/events", json={"events": events[:3]}, headers=key)
                assert again.json()["accepted"] == 0  # an erased user's new events are dropped
                records = client.get("/v1/privacy/records?format=markdown", headers=key)
                assert records.status_code == 200
                assert "Records of processing" in records.text
                metrics = client.get("/metrics").text
                assert 'backbeat_privacy_requests{state="overdue"}' in metrics
        finally:
            serve.terminate()
            try:
                serve.wait(timeout=15)
            except subprocess.TimeoutExpired:
                serve.kill()
    assert "GET /v1/users/{user}/top/tracks" in log.read_text()
    clean = _cli(env, "privacy", "verify-erasure", USER, "--log", str(log), "--json")
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert json.loads(clean.stdout) == {"clean": True, "hits": []}
    verified = _cli(env, "audit", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    listed = _cli(env, "privacy", "requests", "--json")
    assert [r["status"] for r in json.loads(listed.stdout)["requests"]] == ["completed"] * 2
    # a subject that is still there is found, and the command says so with exit 1
    other = _cli(env, "privacy", "verify-erasure", "app", "--json")
    assert other.returncode == 1
    assert json.loads(other.stdout)["clean"] is False


def test_cli_export_erase_and_sweep(tmp_path: Path) -> None:
    env = {**os.environ, "BACKBEAT_DATA_DIR": str(tmp_path / "var")}
    env.pop("REDIS_URL", None)
    out = tmp_path / "nobody.zip"
    exported = _cli(env, "privacy", "export", "nobody", "--out", str(out))
    assert exported.returncode == 0, exported.stderr
    manifest = json.loads(zipfile.ZipFile(out).read("manifest.json"))
    assert {c["category"] for c in manifest["categories"]} >= {"listening_events", "billing"}
    refused = _cli(env, "privacy", "erase", "nobody")
    assert refused.returncode == 2
    assert "--yes" in refused.stderr
    erased = _cli(env, "privacy", "erase", "nobody", "--yes", "--json")
    assert erased.returncode == 0, erased.stderr
    assert json.loads(erased.stdout)["categories"]["listening_events"]["rows"] == 0
    twice = _cli(env, "privacy", "erase", "nobody", "--yes")
    assert twice.returncode != 0
    assert "privacy.already_erased" in twice.stderr
    swept = _cli(env, "retention", "sweep", "--dry-run", "--json")
    assert swept.returncode == 0, swept.stderr
    assert json.loads(swept.stdout)["counts"]["listening_events"] == 0


@pytest.mark.parametrize("bad", ["listening_events=forever", "nonsense"])
def test_bad_retention_settings_are_named(tmp_path: Path, bad: str) -> None:
    env = {**os.environ, "BACKBEAT_DATA_DIR": str(tmp_path), "BACKBEAT_RETENTION": bad}
    done = _cli(env, "retention", "sweep", "--dry-run")
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    assert ("retention" in done.stderr.lower()) or ("forever" in done.stderr)


def test_a_withdrawn_user_gets_no_personalized_playlists(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fastapi.testclient import TestClient

    from backbeat.server import create_app
    from backbeat.settings import Settings
    from tests.server.test_catalogue import _key

    admin = {"Authorization": f"Bearer {_key(tmp_path, monkeypatch, 'admin')}"}
    with TestClient(create_app(Settings.from_env({"BACKBEAT_DATA_DIR": str(tmp_path)}))) as client:
        withdrawn = client.put(
            f"/v1/privacy/consents/{USER}",
            json={"purpose": "personalization", "status": "withdrawn", "source": "settings"},
            headers=admin,
        )
        assert withdrawn.status_code == 200, withdrawn.text
        for path in ("recommendations", "discover-weekly"):
            refused = client.get(f"/v1/users/{USER}/{path}", headers=admin)
            assert refused.status_code == 403, path
            assert refused.json()["error"]["code"] == "privacy.consent_required"
        bad = client.post(
            "/v1/privacy/requests",
            json={"user": USER, "type": "forget-me", "email": "e@example.net"},
            headers=admin,
        )
        assert bad.status_code == 400
        assert bad.json()["error"]["code"] == "privacy.request_type"
        french = client.post(
            f"/v1/privacy/requests/{'0' * 32}/verify",
            json={"token": "a.b.1"},
            headers={**admin, "Accept-Language": "fr"},
        )
        assert french.status_code == 401
        assert "code de vérification" in french.json()["error"]["message"]
