"""The console's files and the endpoints it (and any operator) uses: ``/v1/me``,
``/v1/admin/keys``, ``/v1/admin/jobs``, ``/v1/admin/audit``, ``/v1/tracks/{id}/audio``."""

from __future__ import annotations

import functools
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
import soundfile as sf
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from backbeat import Settings
from backbeat.cli import app as cli
from backbeat.i18n._catalogs import LOCALES
from backbeat.server import create_app
from backbeat.server._console import CONSOLE_DIR
from backbeat.spotify import TUNABLE
from tests.audio._synth import RATE, groove

TRACK = "4uLU6hMCjMI75M1A2tKUQC"
ARTIST = "0OdUWJ0sBjDrqHygGUXeCF"


def _key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, scopes: str) -> str:
    monkeypatch.setenv("BACKBEAT_DATA_DIR", str(tmp_path))
    result = CliRunner().invoke(cli, ["apikey", "create", "--name", "tests", "--scopes", scopes])
    assert result.exit_code == 0, result.output
    return result.stdout.strip().splitlines()[-1]


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def service(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    admin = _key(tmp_path, monkeypatch, "admin")
    reader = _key(tmp_path, monkeypatch, "read")
    vendor = tmp_path / "node_modules" / "hls.js" / "dist"
    vendor.mkdir(parents=True)
    (vendor / "hls.min.js").write_text("/* stand-in for the npm package */")
    settings = Settings.from_env(
        {
            "BACKBEAT_DATA_DIR": str(tmp_path),
            "BACKBEAT_EMBEDDED_WORKER": "false",
            "BACKBEAT_STREAMING": "false",
            "BACKBEAT_CONSOLE_VENDOR": str(tmp_path / "node_modules"),
        }
    )
    with TestClient(create_app(settings)) as client:
        yield client, _bearer(admin), _bearer(reader)


def _upload(client: TestClient, headers: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, groove(120, bars=2), RATE, format="WAV")
    body = {"id": TRACK, "name": "Song", "artists": [{"id": ARTIST, "name": "Band"}]}
    response = client.post(
        "/v1/tracks",
        headers=headers,
        data={"metadata": json.dumps(body)},
        files={"audio": ("song.wav", buffer.getvalue(), "audio/wav")},
    )
    assert response.status_code == 201, response.text
    return buffer.getvalue()


def test_console_is_served_with_a_strict_policy(service: Any) -> None:
    client, _, _ = service
    moved = client.get("/console", follow_redirects=False)
    assert moved.status_code == 307
    assert moved.headers["location"] == "/console/"
    page = client.get("/console/")
    assert page.status_code == 200
    assert "text/html" in page.headers["content-type"]
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "connect-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert page.headers["x-content-type-options"] == "nosniff"
    for name in ("app.js", "api.js", "console.css", "track.js", "locales/he.json"):
        assert client.get(f"/console/{name}").status_code == 200, name
    assert client.get("/console/app.js").headers["content-type"].startswith("text/javascript")
    for bad in (
        "../_console.py",
        "..%2F_console.py",
        "locales%2F..%2Fapp.js",
        "nothere.js",
        "x.py",
    ):
        assert client.get(f"/console/{bad}").status_code == 404, bad
    assert client.get("/console/vendor/hls.min.js").status_code == 200


def test_no_asset_reaches_beyond_the_service() -> None:
    # No CDN, no remote font, no analytics: every URL in our files is a path of ours
    # (the SVG namespace is a name, not a fetch).
    for path in CONSOLE_DIR.rglob("*"):
        if path.is_file() and path.suffix in {".html", ".js", ".css", ".svg"}:
            text = path.read_text()
            remote = re.findall(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}", text)
            assert set(remote) <= {"http://www.w3.org"}, (path.name, remote)
            assert not re.search(r"\.innerHTML\b|insertAdjacentHTML|document\.write", text), (
                path.name
            )
            assert "localStorage" not in text, path.name  # the key lives in the tab only


def test_every_locale_has_every_string_and_its_placeholders() -> None:
    english = json.loads((CONSOLE_DIR / "locales" / "en.json").read_text())
    shipped = sorted(p.stem for p in (CONSOLE_DIR / "locales").glob("*.json"))
    assert shipped == sorted(LOCALES)
    used = set()
    for path in CONSOLE_DIR.glob("*.*"):
        used |= set(re.findall(r'(?:\bt\(|data-i18n=)"([a-z_]+\.[a-z_.]+)"', path.read_text()))
    assert used <= set(english), used - set(english)
    for locale in shipped:
        strings = json.loads((CONSOLE_DIR / "locales" / f"{locale}.json").read_text())
        assert set(strings) == set(english), locale
        for key, text in english.items():
            assert sorted(re.findall(r"\{\w+\}", strings[key])) == sorted(
                re.findall(r"\{\w+\}", text)
            ), (locale, key)
            if locale != "en" and key.startswith("feature."):
                assert strings[key] != text, (locale, key)  # really translated


def test_meta_lists_locales_with_direction_and_the_tunable_attributes(service: Any) -> None:
    client, _, _ = service
    meta = client.get("/console/meta.json").json()
    directions = {entry["code"]: entry["dir"] for entry in meta["locales"]}
    assert sorted(directions) == sorted(LOCALES)
    assert {c for c, d in directions.items() if d == "rtl"} == {"ar", "he"}
    assert {t["name"] for t in meta["tunable"]} == set(TUNABLE)
    assert all(t["min"] < t["max"] for t in meta["tunable"])
    assert meta["hls_js"] is True


def test_me_names_the_key_and_its_scopes(service: Any) -> None:
    client, admin, reader = service
    assert client.get("/v1/me").status_code == 401
    assert client.get("/v1/me", headers=_bearer("bb_nothing1_wrong")).status_code == 401
    me = client.get("/v1/me", headers=reader).json()
    assert me["scopes"] == ["read"]
    assert me["name"] == "tests"
    assert client.get("/v1/me", headers=admin).json()["scopes"] == ["admin"]


def test_keys_are_created_once_listed_without_secrets_and_revoked(service: Any) -> None:
    client, admin, reader = service
    body = {"name": "dashboard", "scopes": ["read", "write"]}
    assert client.post("/v1/admin/keys", json=body, headers=reader).status_code == 403
    created = client.post("/v1/admin/keys", json=body, headers=admin)
    assert created.status_code == 201
    new = created.json()
    assert new["scopes"] == ["read", "write"]
    assert client.get("/v1/me", headers=_bearer(new["key"])).json()["id"] == new["id"]
    listing = client.get("/v1/admin/keys", headers=admin)
    assert new["key"] not in listing.text
    assert "hash" not in listing.text
    assert new["id"] in {k["id"] for k in listing.json()["items"]}
    assert client.delete(f"/v1/admin/keys/{new['id']}", headers=admin).status_code == 204
    assert client.get("/v1/me", headers=_bearer(new["key"])).status_code == 401
    again = client.delete(f"/v1/admin/keys/{new['id']}", headers={**admin, "Accept-Language": "fr"})
    assert again.status_code == 404
    assert again.json()["error"]["code"] == "operations.key_unknown"
    assert new["id"] in again.json()["error"]["message"]
    assert "clé" in again.json()["error"]["message"].lower()
    wrong = client.post("/v1/admin/keys", json={"name": "x", "scopes": ["root"]}, headers=admin)
    assert wrong.status_code == 400
    assert "scopes" in wrong.json()["error"]["message"]
    actions = [
        json.loads(line)
        for line in CliRunner().invoke(cli, ["audit", "export"]).stdout.splitlines()
    ]
    outcomes = [(e["action"], e["outcome"]) for e in actions if e["action"] == "apikey.revoke"]
    assert outcomes == [("apikey.revoke", "success"), ("apikey.revoke", "failure")]


def test_failed_jobs_are_listed_and_retried(service: Any) -> None:
    client, admin, reader = service
    _upload(client, admin)
    jobs = client.app.state.services.catalogue.jobs  # type: ignore[attr-defined]
    job = client.portal.call(jobs.claim)  # type: ignore[union-attr]
    assert job is not None
    client.portal.call(  # type: ignore[union-attr]
        functools.partial(jobs.fail, job, "audio.decode_failed", retryable=False)
    )
    assert client.get("/v1/admin/jobs", headers=reader).status_code == 403
    listed = client.get("/v1/admin/jobs", headers=admin).json()
    assert listed["failed"] == 1
    assert listed["items"][0]["track_id"] == TRACK
    assert listed["items"][0]["error_code"] == "audio.decode_failed"
    assert listed["items"][0]["name"] == "Song"
    retried = client.post(f"/v1/admin/jobs/{TRACK}/retry", headers=admin)
    assert retried.status_code == 200
    assert retried.json()["status"] == "queued"
    assert client.get("/v1/admin/jobs", headers=admin).json()["failed"] == 0
    assert client.get(f"/v1/audio-features/{TRACK}", headers=admin).status_code == 202
    again = client.post(f"/v1/admin/jobs/{TRACK}/retry", headers=admin)
    assert again.status_code == 404
    assert again.json()["error"]["code"] == "operations.job_not_failed"


def test_audit_status_verifies_every_chain(service: Any) -> None:
    client, admin, reader = service
    client.post("/v1/admin/keys", json={"name": "n", "scopes": ["read"]}, headers=admin)
    assert client.get("/v1/admin/audit", headers=reader).status_code == 403
    report = client.get("/v1/admin/audit", headers=admin).json()
    assert report["ok"] is True
    assert sum(c["events"] for c in report["chains"]) >= 1


def test_original_audio_by_key_or_signed_url(service: Any) -> None:
    client, admin, reader = service
    sent = _upload(client, admin)
    assert client.get(f"/v1/tracks/{TRACK}/audio").status_code == 401
    got = client.get(f"/v1/tracks/{TRACK}/audio", headers=reader)
    assert got.status_code == 200
    assert got.content == sent
    part = client.get(f"/v1/tracks/{TRACK}/audio", headers={**reader, "Range": "bytes=0-9"})
    assert part.status_code == 206
    assert part.content == sent[:10]
    url = client.post(f"/v1/tracks/{TRACK}/stream/url", headers=reader).json()["url"]
    query = url.split("?", 1)[1]
    assert client.get(f"/v1/tracks/{TRACK}/audio?{query}").content == sent
    forged = query[:-1] + ("0" if query[-1] != "0" else "1")
    assert client.get(f"/v1/tracks/{TRACK}/audio?{forged}").status_code == 403
