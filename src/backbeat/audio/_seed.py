"""The seed README's ``audio_processor.extract_features(audio_stream, advanced_features=True)``."""

from __future__ import annotations

import asyncio
from typing import Any

from backbeat.audio._analyze import analyze
from backbeat.audio._decode import ANALYSIS_RATE, AudioSource

__all__ = ["AudioProcessor"]


class AudioProcessor:
    """Async face of :func:`backbeat.audio.analyze`: the work runs in a worker thread."""

    def __init__(self, sample_rate: int = ANALYSIS_RATE) -> None:
        self.sample_rate = sample_rate

    async def extract_features(
        self, source: AudioSource, advanced_features: bool = False
    ) -> dict[str, Any]:
        """Spotify's audio-features fields; with ``advanced_features`` also ``summary``
        (low-level statistics per feature) and ``embedding`` (:meth:`AudioFeatures.vector`)."""
        features = await asyncio.to_thread(analyze, source, sample_rate=self.sample_rate)
        out = features.to_dict()
        if advanced_features and features.lowlevel is not None:
            out["summary"] = features.lowlevel.summary()
            out["embedding"] = [float(v) for v in features.vector()]
        return out
