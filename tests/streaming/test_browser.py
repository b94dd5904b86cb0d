"""A real player: hls.js in Debian's Chromium (Playwright, headless) plays a track that a
real ``backbeat serve`` packaged, from a signed URL; audio time advances; throttling the
network (Chromium's own network emulation) makes the player switch down; the page's
telemetry reaches ``/metrics``.

Needs what ``tests/_browser.py`` lists.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx2 as httpx
import numpy as np
import soundfile as sf

from tests._browser import HLS_JS, launch, require_browser
from tests._http import wait_http

BACKBEAT = str(Path(sys.executable).with_name("backbeat"))
TRACK = "4uLU6hMCjMI75M1A2tKUQC"

PAGE = "<html><head><title>player</title></head><body><audio id=a muted></audio></body></html>"
PLAYER = """([src, key, session, track]) => {
  window.levels = []; window.sent = [];
  const audio = document.getElementById('a');
  const post = (type, extra) => {
    const event = Object.assign({session, track, type, at: new Date().toISOString()}, extra);
    window.sent.push(type);
    return fetch('/v1/playback/telemetry', {method: 'POST',
      headers: {'Authorization': 'Bearer ' + key, 'Content-Type': 'application/json'},
      body: JSON.stringify({events: [event]})});
  };
  const hls = new Hls({startLevel: 1, abrEwmaDefaultEstimate: 500000,
                       maxBufferLength: 4, maxMaxBufferLength: 6});
  window.hls = hls;
  hls.on(Hls.Events.LEVEL_SWITCHED, (e, d) => {
    window.levels.push(d.level);
    if (window.levels.length > 1)
      post('switch', {bitrate_kbps: hls.levels[d.level].bitrate / 1000,
                      position_s: audio.currentTime});
  });
  audio.addEventListener('playing', () => post('first_audio',
      {bitrate_kbps: hls.levels[hls.currentLevel].bitrate / 1000, position_s: 0}),
      {once: true});
  post('start', {});
  hls.loadSource(src); hls.attachMedia(audio); audio.play();
}"""


def _metric(text: str, series: str) -> float:
    found = re.search(rf"^{re.escape(series)} (\S+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def test_hls_js_plays_switches_down_and_reports(tmp_path: Path, free_port: int) -> None:
    require_browser()
    from playwright.sync_api import sync_playwright

    env = {
        **os.environ,
        "BACKBEAT_DATA_DIR": str(tmp_path / "var"),
        "BACKBEAT_STREAM_LADDER": "aac:64,256",
        "BACKBEAT_STREAM_SEGMENT_S": "2",
        "BACKBEAT_LOG_LEVEL": "WARNING",
    }
    env.pop("REDIS_URL", None)
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    created = subprocess.run(
        [BACKBEAT, "apikey", "create", "--name", "player", "--scopes", "read,write"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    key = created.stdout.strip().splitlines()[-1]
    headers = {"Authorization": f"Bearer {key}"}
    base = f"http://127.0.0.1:{free_port}"
    serve = subprocess.Popen(
        [BACKBEAT, "serve", "--port", str(free_port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_http(f"{base}/health", serve, "backbeat serve")
        rate = 44100
        t = np.arange(rate * 90) / rate
        noise = np.random.default_rng(1).standard_normal(len(t))
        x = (0.2 * np.sin(2 * np.pi * 330 * t) + 0.2 * noise).astype(np.float32)
        wav = io.BytesIO()
        sf.write(wav, np.stack([x, x], 1), rate, format="WAV")
        artist = {"id": "0OdUWJ0sBjDrqHygGUXeCF", "name": "A"}
        uploaded = httpx.post(
            f"{base}/v1/tracks",
            headers=headers,
            data={"metadata": json.dumps({"id": TRACK, "name": "T", "artists": [artist]})},
            files={"audio": ("t.wav", wav.getvalue(), "audio/wav")},
            timeout=60,
        )
        assert uploaded.status_code == 201, uploaded.text
        deadline = time.monotonic() + 120
        while (
            httpx.get(f"{base}/v1/tracks/{TRACK}/stream/master.m3u8", headers=headers).status_code
            != 200
        ):
            assert time.monotonic() < deadline, "the track was not packaged"
            time.sleep(0.3)
        url = httpx.post(f"{base}/v1/tracks/{TRACK}/stream/url?ttl_s=600", headers=headers)
        src = url.json()["url"]
        with sync_playwright() as pw:
            browser = launch(pw)
            try:
                page = browser.new_page()
                page.route(
                    f"{base}/player.html",
                    lambda route: route.fulfill(body=PAGE, content_type="text/html"),
                )
                page.goto(f"{base}/player.html")
                page.add_script_tag(content=HLS_JS.read_text())
                page.evaluate(PLAYER, [src, key, "session-browser-1", TRACK])
                page.wait_for_function(
                    "document.getElementById('a').currentTime > 2", timeout=30_000
                )
                started_at = page.evaluate("document.getElementById('a').currentTime")
                assert page.evaluate("hls.currentLevel") == 1  # the 256 kbit/s rendition
                cdp = page.context.new_cdp_session(page)
                cdp.send("Network.enable")
                cdp.send(
                    "Network.emulateNetworkConditions",
                    {
                        "offline": False,
                        "latency": 100,
                        "downloadThroughput": 10_000,  # 80 kbit/s: under 256, over 64
                        "uploadThroughput": 10_000,
                    },
                )
                page.wait_for_function("hls.currentLevel === 0", timeout=60_000)
                page.wait_for_function(
                    f"document.getElementById('a').currentTime > {started_at + 4}",
                    timeout=30_000,
                )
                page.wait_for_function("window.sent.includes('switch')", timeout=10_000)
                page.screenshot(path=str(tmp_path / "player.png"))
                levels = page.evaluate("window.levels")
            finally:
                browser.close()
        assert levels[0] == 1
        assert 0 in levels
        metrics = ""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            metrics = httpx.get(f"{base}/metrics").text
            if _metric(metrics, 'backbeat_playback_events_total{type="switch"}') >= 1:
                break
            time.sleep(0.3)
        assert _metric(metrics, 'backbeat_playback_events_total{type="first_audio"}') == 1
        assert _metric(metrics, 'backbeat_playback_events_total{type="switch"}') >= 1
        assert _metric(metrics, "backbeat_playback_startup_seconds_count") == 1
    finally:
        serve.terminate()
        try:
            serve.wait(timeout=15)
        except subprocess.TimeoutExpired:
            serve.kill()
