"""Playback telemetry through the service: events stored, QoS series measured across
batches, bad events refused."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from backbeat.server import create_app
from backbeat.settings import Settings
from tests.server.test_catalogue import _key

TRACK = "4uLU6hMCjMI75M1A2tKUQC"


def _value(text: str, series: str) -> float:
    found = re.search(rf"^{re.escape(series)} (\S+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def test_telemetry_feeds_the_qos_series(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key = {"Authorization": f"Bearer {_key(tmp_path, monkeypatch, 'write')}"}
    settings = Settings.from_env({"BACKBEAT_DATA_DIR": str(tmp_path)})
    with TestClient(create_app(settings)) as client:

        def event(kind: str, second: float, **extra: object) -> dict[str, object]:
            at = f"2026-12-01T10:00:{second:06.3f}Z"
            return {"session": "sess-0001", "track": TRACK, "type": kind, "at": at, **extra}

        first = client.post(
            "/v1/playback/telemetry",
            json={
                "events": [
                    event("start", 0.0),
                    event("first_audio", 0.8, bitrate_kbps=96, rendition="opus_96", position_s=0),
                    event("progress", 10.8, position_s=10.0),
                    event("stall_start", 11.0, position_s=10.2),
                ]
            },
            headers=key,
        )
        assert first.status_code == 202, first.text
        assert first.json() == {"accepted": 4, "startups": 1, "stalls": 0}
        # the stall ends in the next batch: measured from the stored start
        second = client.post(
            "/v1/playback/telemetry",
            json={
                "events": [
                    event("stall_end", 12.5, position_s=10.2),
                    event("switch", 12.6, bitrate_kbps=64, rendition="opus_64"),
                    event("progress", 22.6, position_s=20.2),
                ]
            },
            headers=key,
        )
        assert second.json() == {"accepted": 3, "startups": 0, "stalls": 1}
        text = client.get("/metrics").text
        assert _value(text, "backbeat_playback_startup_seconds_count") == 1
        assert _value(text, "backbeat_playback_startup_seconds_sum") == pytest.approx(0.8)
        assert _value(text, "backbeat_playback_stall_seconds_sum") == pytest.approx(1.5)
        assert _value(text, 'backbeat_playback_seconds_total{state="played"}') == pytest.approx(
            20.2
        )
        assert _value(text, 'backbeat_playback_seconds_total{state="stalled"}') == pytest.approx(
            1.5
        )
        assert _value(text, 'backbeat_playback_events_total{type="stall_start"}') == 1
        assert _value(text, "backbeat_stream_bitrate_kbps_count") == 2
        bad = client.post(
            "/v1/playback/telemetry",
            json={"events": [event("rewind", 1.0)]},
            headers=key,
        )
        assert bad.status_code == 400
        assert "type" in bad.text
        empty = client.post("/v1/playback/telemetry", json={"events": []}, headers=key)
        assert empty.status_code == 400
        assert client.post("/v1/playback/telemetry", json={"events": []}).status_code == 401
