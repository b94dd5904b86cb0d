"""Streaming delivery through the service: the analysis job packages the upload; playlists
and segments are served with ranges, ETags and cache headers, by key or by signed URL."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import av
import numpy as np
import pytest
import soundfile as sf
from fastapi.testclient import TestClient

from backbeat.server import create_app
from backbeat.settings import Settings
from tests.audio._synth import RATE, groove
from tests.server.test_catalogue import _key

TRACK = "4uLU6hMCjMI75M1A2tKUQC"


@pytest.fixture
def client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    writer = {"Authorization": f"Bearer {_key(tmp_path, monkeypatch, 'read,write')}"}
    settings = Settings.from_env(
        {
            "BACKBEAT_DATA_DIR": str(tmp_path),
            "BACKBEAT_STREAM_LADDER": "opus:32,96+aac:64",
            "BACKBEAT_STREAM_SEGMENT_S": "2",
        }
    )
    with TestClient(create_app(settings)) as c:
        buffer = io.BytesIO()
        sf.write(buffer, groove(120.0, bars=4) * 0.5, RATE, format="WAV")
        meta = {
            "id": TRACK,
            "name": "Song",
            "artists": [{"id": "0OdUWJ0sBjDrqHygGUXeCF", "name": "B"}],
        }
        posted = c.post(
            "/v1/tracks",
            headers=writer,
            data={"metadata": json.dumps(meta)},
            files={"audio": ("song.wav", buffer.getvalue(), "audio/wav")},
        )
        assert posted.status_code == 201, posted.text
        deadline = time.monotonic() + 60
        while c.get(f"/v1/audio-features/{TRACK}", headers=writer).status_code != 200:
            assert time.monotonic() < deadline, "analysis did not finish"
            time.sleep(0.2)
        yield c, writer


def test_playlists_and_segments_by_key(client) -> None:  # type: ignore[no-untyped-def]
    c, key = client
    listed = c.get("/v1/tracks", headers=key).json()["items"]
    assert listed[0]["analysis"] == "done"
    assert listed[0]["audio_features"]["tempo"] > 0
    wave = c.get(f"/v1/tracks/{TRACK}/waveform?points=100", headers=key)
    assert wave.status_code == 200, wave.text
    body = wave.json()
    assert len(body["min"]) == len(body["max"]) == 100
    assert body["duration_s"] == pytest.approx(len(groove(120.0, bars=4)) / RATE, rel=1e-3)
    assert all(lo <= hi for lo, hi in zip(body["min"], body["max"], strict=True))
    assert max(body["max"]) == pytest.approx(0.5 * float(np.max(groove(120.0, bars=4))), abs=0.01)
    assert c.get(f"/v1/tracks/{TRACK}/waveform?points=100", headers=key).json() == body
    assert c.get(f"/v1/tracks/{TRACK}/waveform?points=5", headers=key).status_code == 400
    base = f"/v1/tracks/{TRACK}/stream"
    master = c.get(f"{base}/master.m3u8", headers=key)
    assert master.status_code == 200, master.text
    assert master.headers["content-type"].startswith("application/vnd.apple.mpegurl")
    assert master.text.count("#EXT-X-STREAM-INF") == 3
    assert c.get(f"{base}/master.m3u8").status_code == 401  # no key, no signature
    again = c.get(f"{base}/master.m3u8", headers={**key, "If-None-Match": master.headers["etag"]})
    assert again.status_code == 304
    media = c.get(f"{base}/opus_96/index.m3u8", headers=key)
    assert media.status_code == 200
    segments = [line for line in media.text.splitlines() if line.endswith(".m4s")]
    assert len(segments) >= 4
    whole = c.get(f"{base}/opus_96/{segments[0]}", headers=key)
    assert whole.status_code == 200
    assert "immutable" in whole.headers["cache-control"]
    part = c.get(f"{base}/opus_96/{segments[0]}", headers={**key, "Range": "bytes=0-99"})
    assert part.status_code == 206
    assert part.content == whole.content[:100]
    assert part.headers["content-range"].startswith("bytes 0-99/")
    cached = c.get(
        f"{base}/opus_96/{segments[0]}", headers={**key, "If-None-Match": whole.headers["etag"]}
    )
    assert cached.status_code == 304
    for bad in ("opus_96/seg_99999.m4s", "opus_97/index.m3u8", "x.m3u8", "opus_96/../package.json"):
        assert c.get(f"{base}/{bad}", headers=key).status_code == 404, bad
    escape = c.get(f"{base}/../../audit.keys", headers=key)  # normalised away from the stream
    assert escape.status_code in (400, 404)
    assert "error" in escape.json()  # an error, never the file
    missing = c.get("/v1/tracks/0OdUWJ0sBjDrqHygGUXeCF/stream/master.m3u8", headers=key)
    assert missing.status_code == 404


def test_a_signed_url_plays_the_whole_stream_and_expires(client, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    c, key = client
    signed = c.post(f"/v1/tracks/{TRACK}/stream/url?ttl_s=60", headers=key).json()
    url = signed["url"]
    master = c.get(url)
    assert master.status_code == 200, master.text
    query = urlsplit(url).query
    media_uri = next(line for line in master.text.splitlines() if line.startswith("aac_64/"))
    assert media_uri.endswith(f"?{query}")
    media = c.get(f"/v1/tracks/{TRACK}/stream/{media_uri}")
    assert media.status_code == 200
    assert f'URI="init.mp4?{query}"' in media.text
    segment = next(line for line in media.text.splitlines() if ".m4s?" in line)
    got = c.get(f"/v1/tracks/{TRACK}/stream/aac_64/{segment}")
    assert got.status_code == 200
    init = c.get(f"/v1/tracks/{TRACK}/stream/aac_64/init.mp4?{query}").content
    with av.open(io.BytesIO(init + got.content)) as container:  # the bytes decode
        frames = list(container.decode(audio=0))
    assert sum(f.samples for f in frames) > 0
    params = parse_qs(query)
    tampered = (
        f"/v1/tracks/{TRACK}/stream/master.m3u8?expires={params['expires'][0]}&sig={'0' * 32}"
    )
    refused = c.get(tampered)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "streaming.url_invalid"
    past = int(params["expires"][0]) - 3600
    from backbeat.server._stream import _signature, _url_key

    services = c.app.state.services
    stale = _signature(_url_key(services), TRACK, past)
    expired = c.get(f"/v1/tracks/{TRACK}/stream/master.m3u8?expires={past}&sig={stale}")
    assert expired.status_code == 403
    assert expired.json()["error"]["code"] == "streaming.url_expired"
    assert np.isfinite(float(params["expires"][0]))
