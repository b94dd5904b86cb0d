"""Spotify's Web API vocabulary, the one list every concern reads.

The audio-features object's numeric fields, the perceptual descriptors among them,
the attributes ``/v1/recommendations`` tunes with ``min_``/``max_``/``target_``, and
the documented range of each. Plain data, standard library only: ``audio`` computes
these fields, ``validation`` checks them, ``recommend`` and the service filter on
them, the CLI prints them.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

__all__ = [
    "AUDIO_FEATURES",
    "AUDIO_FEATURE_RANGES",
    "DESCRIPTORS",
    "INTEGER_FEATURES",
    "MAX_DURATION_MS",
    "TUNABLE",
]

AUDIO_FEATURES: tuple[str, ...] = (
    "acousticness",
    "danceability",
    "duration_ms",
    "energy",
    "instrumentalness",
    "key",
    "liveness",
    "loudness",
    "mode",
    "speechiness",
    "tempo",
    "time_signature",
    "valence",
)
"""The numeric fields of the audio-features object, in Spotify's (alphabetical) order."""

DESCRIPTORS: tuple[str, ...] = (
    "danceability",
    "energy",
    "speechiness",
    "acousticness",
    "instrumentalness",
    "liveness",
    "valence",
)
"""The 0-1 perceptual descriptors among :data:`AUDIO_FEATURES`, in display order."""

TUNABLE: tuple[str, ...] = tuple(sorted((*AUDIO_FEATURES, "popularity")))
"""Attributes with ``min_``/``max_``/``target_`` parameters in ``/v1/recommendations``."""

INTEGER_FEATURES = frozenset({"key", "mode", "time_signature", "duration_ms"})

MAX_DURATION_MS = 24 * 3600 * 1000

AUDIO_FEATURE_RANGES: Mapping[str, tuple[float, float]] = MappingProxyType(
    {
        **dict.fromkeys(sorted(DESCRIPTORS), (0.0, 1.0)),
        "key": (-1, 11),
        "mode": (0, 1),
        "time_signature": (3, 7),
        "loudness": (-60.0, 5.0),  # "typically between -60 and 0 db"; mastered peaks go above 0
        "tempo": (0.0, 300.0),
        "duration_ms": (1, MAX_DURATION_MS),
    }
)
"""Each field of :data:`AUDIO_FEATURES` and its documented range (inclusive)."""
