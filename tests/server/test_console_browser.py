"""The console in a real browser (Debian's Chromium through Playwright, headless) against a
real ``backbeat serve`` on SQLite, as a new user would use it: a wrong key refused, sign
in, an upload by the file picker and a non-audio file dropped on the drop zone (the API's
error shown), the track page pending until a worker analyses it then drawing its
waveform with the API's beats at the API's positions, playback moving the cursor, the
recommendation playground following a slider, a key created (shown once) and revoked,
and the layout mirrored in Arabic. Screenshots go to ``var/test-artifacts/console``.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx2 as httpx
import soundfile as sf

from tests._browser import (
    ARTIFACTS,
    NODE_MODULES,
    accessibility_violations,
    launch,
    require_browser,
)
from tests._http import wait_http
from tests.audio._synth import RATE, groove

BACKBEAT = str(Path(sys.executable).with_name("backbeat"))
SHOTS = ARTIFACTS / "console"
DROP_FILE = """([name, text]) => {
  const data = new DataTransfer();
  data.items.add(new File([text], name, {type: 'audio/wav'}));
  const zone = document.getElementById('drop');
  zone.dispatchEvent(new DragEvent('dragover', {dataTransfer: data, bubbles: true}));
  zone.dispatchEvent(new DragEvent('drop', {dataTransfer: data, bubbles: true}));
}"""


def _cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([BACKBEAT, *args], env=env, capture_output=True, text=True, check=True)
    return done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""


def _register(base: str, key: str, track: str, name: str, artist: str, bpm: float) -> None:
    wav = io.BytesIO()
    sf.write(wav, groove(bpm, bars=3), RATE, format="WAV")
    body = {"id": track, "name": name, "artists": [{"id": artist, "name": "Seeded"}]}
    response = httpx.post(
        f"{base}/v1/tracks",
        headers={"Authorization": f"Bearer {key}"},
        data={"metadata": json.dumps(body)},
        files={"audio": (f"{name}.wav", wav.getvalue(), "audio/wav")},
        timeout=60,
    )
    assert response.status_code == 201, response.text


def test_console_end_to_end(tmp_path: Path, free_port: int) -> None:
    require_browser()
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "BACKBEAT_DATA_DIR": str(tmp_path / "var"),
        "BACKBEAT_CONSOLE_VENDOR": str(NODE_MODULES),
        "BACKBEAT_EMBEDDED_WORKER": "false",  # a worker is started below, on cue
        "BACKBEAT_STREAM_LADDER": "aac:64",
        "BACKBEAT_LOG_LEVEL": "WARNING",
    }
    env.pop("REDIS_URL", None)
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    admin = _cli(env, "apikey", "create", "--name", "console", "--scopes", "admin")
    base = f"http://127.0.0.1:{free_port}"
    api = {"Authorization": f"Bearer {admin}"}
    serve = subprocess.Popen(
        [BACKBEAT, "serve", "--port", str(free_port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    clip = tmp_path / "first-groove.wav"
    sf.write(clip, groove(120, bars=4), RATE)
    worker: subprocess.Popen[bytes] | None = None
    try:
        wait_http(f"{base}/health", serve, "backbeat serve")
        _register(
            base, admin, "1111111111111111111111", "Seeded slow", "1AAAAAAAAAAAAAAAAAAAAA", 90
        )
        _register(
            base, admin, "2222222222222222222222", "Seeded fast", "1AAAAAAAAAAAAAAAAAAAAA", 140
        )
        with sync_playwright() as pw:
            browser = launch(pw)
            try:
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                errors: list[str] = []
                page.on("pageerror", lambda e: errors.append(str(e)))
                page.on("dialog", lambda dialog: dialog.accept())
                page.goto(f"{base}/console")
                # A wrong key: the API's message, no console data.
                page.fill("#key", "bb_nothing1_notavalidsecretatall")
                page.click("form.signin button[type=submit]")
                _until(page, "document.getElementById('signin-error').textContent")
                assert "API key" in page.text_content("#signin-error")
                assert page.locator("#tracks").count() == 0
                assert page.is_hidden("#nav")
                page.fill("#key", admin)
                page.click("form.signin button[type=submit]")
                page.wait_for_selector("#tracks tbody tr[data-id]")
                assert page.evaluate("sessionStorage.getItem('backbeat.key')") == admin
                assert page.evaluate("document.cookie") == ""
                # Upload: one clip by the picker; a non-audio file dropped on the zone.
                page.set_input_files("#upload-input", str(clip))
                page.wait_for_selector("#tracks tbody tr:has-text('first-groove')")
                page.evaluate(DROP_FILE, ["notes.wav", "these are not samples"])
                page.wait_for_selector(".uploads li.error, .uploads li .error")
                assert "notes.wav" in page.text_content("#alert")
                assert "decoded" in page.text_content("#alert")
                page.screenshot(path=str(SHOTS / "catalogue.png"), full_page=True)
                assert accessibility_violations(page) == []
                row = page.locator("#tracks tbody tr:has-text('first-groove')")
                track = row.get_attribute("data-id")
                assert track
                assert row.locator("[data-status]").get_attribute("data-status") == "queued"
                # The track page waits, visibly, until a worker has analysed it.
                row.locator("a").click()
                page.wait_for_selector("[data-pending]")
                page.screenshot(path=str(SHOTS / "pending.png"), full_page=True)
                worker = subprocess.Popen(
                    [BACKBEAT, "worker"],
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                page.wait_for_selector("#overlay .beat", state="attached", timeout=90_000)
                analysis = httpx.get(f"{base}/v1/audio-analysis/{track}", headers=api).json()
                drawn = page.eval_on_selector_all(
                    "#overlay .beat",
                    "els => els.map(e => [Number(e.dataset.start), Number(e.getAttribute('x1'))])",
                )
                duration = analysis["track"]["duration"]
                assert len(drawn) == len(analysis["beats"]) > 10
                for (start, x), beat in zip(drawn, analysis["beats"], strict=True):
                    assert start == beat["start"]
                    assert abs(x - beat["start"] / duration * 1000) < 0.01
                bars = page.locator("#overlay .bar").count()
                assert bars == len(analysis["bars"])
                assert page.locator("#features tr[data-field='tempo']").count() == 1
                # Playback (hls.js from the npm install) moves the cursor.
                _until(page, "document.getElementById('player-source').dataset.source")
                assert page.get_attribute("#player-source", "data-source") == "hls"
                page.evaluate("document.getElementById('player').muted = true")
                page.evaluate("document.getElementById('player').play()")
                _until(
                    page,
                    "Number(document.querySelector('#overlay .cursor').getAttribute('x1')) > 20",
                    timeout=20_000,
                )
                page.screenshot(path=str(SHOTS / "track.png"), full_page=True)
                assert accessibility_violations(page) == []
                # Playground: a slider change asks again; the list is the API's.
                page.goto(f"{base}/console/#/playground")
                page.wait_for_selector("#results li[data-id]")
                page.fill("#slider-tempo", "140")
                page.dispatch_event("#slider-tempo", "input")
                _until(
                    page,
                    "(document.getElementById('results').dataset.query || '')"
                    ".includes('target_tempo=140')",
                )
                query = page.get_attribute("#results", "data-query")
                shown = page.eval_on_selector_all(
                    "#results li[data-id]", "els => els.map(e => e.dataset.id)"
                )
                expected = httpx.get(f"{base}/v1/recommendations?{query}", headers=api).json()
                assert shown == [t["id"] for t in expected["tracks"]]
                assert json.loads(page.text_content("#seeds-block")) == expected["seeds"]
                page.screenshot(path=str(SHOTS / "playground.png"), full_page=True)
                assert accessibility_violations(page) == []
                # Operations: a key created (shown once) and revoked.
                page.goto(f"{base}/console/#/operations")
                page.wait_for_selector("#audit-status[data-ok='true']")
                page.fill("#new-key-name", "temporary")
                page.click("#key-form button[type=submit]")
                page.wait_for_selector("#new-key-value")
                temporary = page.text_content("#new-key-value")
                assert temporary
                assert temporary.startswith("bb_")
                assert httpx.get(f"{base}/v1/me", headers=_bearer(temporary)).status_code == 200
                key_id = temporary.split("_")[1]
                page.click(f"[data-revoke='{key_id}']")
                page.wait_for_selector(f"#keys tr[data-id='{key_id}'] [data-state='revoked']")
                assert page.locator("#new-key-value").count() == 0  # shown once only
                assert httpx.get(f"{base}/v1/me", headers=_bearer(temporary)).status_code == 401
                page.screenshot(path=str(SHOTS / "operations.png"), full_page=True)
                # Arabic: translated and mirrored.
                page.select_option("#locale", "ar")
                _until(page, "document.documentElement.dir === 'rtl'")
                assert page.evaluate("document.documentElement.lang") == "ar"
                assert page.text_content("#ops-keys-title") != "API keys"
                page.screenshot(path=str(SHOTS / "operations-ar.png"), full_page=True)
                assert accessibility_violations(page) == []
                # A read-only key: no upload, no operations.
                reader = httpx.post(
                    f"{base}/v1/admin/keys",
                    json={"name": "viewer", "scopes": ["read"]},
                    headers=api,
                ).json()["key"]
                viewer = browser.new_page()
                viewer.goto(f"{base}/console/")
                viewer.fill("#key", reader)
                viewer.click("form.signin button[type=submit]")
                viewer.wait_for_selector("#tracks tbody tr[data-id]")
                assert viewer.locator("#upload-input").count() == 0
                assert viewer.is_hidden("#nav a[href='#/operations']")
                viewer.goto(f"{base}/console/#/operations")
                viewer.wait_for_selector("main .notice")
                assert viewer.locator("#keys").count() == 0
                assert errors == []
            finally:
                browser.close()
    finally:
        for proc in (worker, serve):
            if proc is not None:
                proc.terminate()
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()


def _until(page: Any, expression: str, timeout: int = 30_000) -> None:
    """``wait_for_function`` without it: Playwright compiles its predicate with
    ``new Function``, which the console's Content-Security-Policy (rightly) refuses."""
    deadline = time.monotonic() + timeout / 1000
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"timed out waiting for {expression}"
        time.sleep(0.1)


def _bearer(key: str) -> dict[str, Any]:
    return {"Authorization": f"Bearer {key}"}
