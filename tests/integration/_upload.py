"""Uploading the test groove to a running app: shared by the service integration tests."""

from __future__ import annotations

import io
import json
from typing import Any

import soundfile as sf
from fastapi.testclient import TestClient

from tests.audio._synth import RATE, groove

TRACK = "4uLU6hMCjMI75M1A2tKUQC"
ARTIST = "0OdUWJ0sBjDrqHygGUXeCF"


def groove_wav() -> bytes:
    """Twelve seconds of the C major groove at 120 BPM, as WAV bytes."""
    buffer = io.BytesIO()
    sf.write(buffer, groove(120.0, bars=6), RATE, format="WAV")
    return buffer.getvalue()


def post_track(
    client: TestClient, headers: dict[str, str], audio: bytes, name: str = "S", artist: str = "B"
) -> Any:
    """``POST /v1/tracks`` with metadata for :data:`TRACK` and ``audio`` as the file."""
    metadata = {"id": TRACK, "name": name, "artists": [{"id": ARTIST, "name": artist}]}
    return client.post(
        "/v1/tracks",
        headers=headers,
        data={"metadata": json.dumps(metadata)},
        files={"audio": ("a.wav", audio, "audio/wav")},
    )
