"""Waveform overviews: min/max sample per column, read in one streaming pass."""

from __future__ import annotations

from typing import Any

import numpy as np

from backbeat.audio._decode import AudioSource, open_audio

__all__ = ["waveform"]


def waveform(source: AudioSource, points: int = 800) -> dict[str, Any]:
    """``{"duration_s", "sample_rate", "points", "min": [...], "max": [...]}``: the mono
    mix-down's lowest and highest sample in each of ``points`` equal spans (what a waveform
    view draws), computed block by block without holding the file."""
    if not 16 <= points <= 10_000:
        from backbeat.errors import ValidationError

        raise ValidationError(
            "validation.waveform_points",
            details={"value": points},
            message="A waveform has 16 to 10000 points; got {value}.",
        )
    with open_audio(source) as stream:
        total = stream.frames
        rate = stream.sample_rate
        if not total:
            blocks = [b.mean(axis=1) for b in stream.blocks()]
            data = np.concatenate(blocks) if blocks else np.zeros(0, np.float32)
            total = len(data)
            chunks: Any = [data]
        else:
            chunks = (b.mean(axis=1) for b in stream.blocks())
        low = np.full(points, np.inf)
        high = np.full(points, -np.inf)
        start = 0
        for chunk in chunks:
            if not len(chunk):
                continue
            columns = np.minimum(
                (np.arange(start, start + len(chunk)) * points) // max(total, 1), points - 1
            )
            np.minimum.at(low, columns, chunk)
            np.maximum.at(high, columns, chunk)
            start += len(chunk)
    empty = ~np.isfinite(low)
    low[empty] = 0.0
    high[empty] = 0.0
    return {
        "duration_s": round(start / rate, 6) if rate else 0.0,
        "sample_rate": rate,
        "points": points,
        "min": [round(float(v), 4) for v in low],
        "max": [round(float(v), 4) for v in high],
    }
