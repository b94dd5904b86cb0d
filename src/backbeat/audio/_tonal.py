"""Key and mode from chroma by correlation with key profiles.

The track's chroma (tuning-corrected, log-compressed, each frame scaled to a
maximum of 1; see ``_frontend``) is summed over time, the last tenth of the
audible part counting four times (music tends to end on its tonic), and
correlated (Pearson) with the 24 rotations of a major and a minor key profile
(Krumhansl & Schmuckler's method). The profiles are Temperley's (2007, from the
Kostka-Payne corpus): when they were chosen they scored MIREX 1.00 on grooves and
0.92 on chorales in our harness where Krumhansl-Kessler's probe-tone ratings scored
0.90 and 0.66 (current figures: CHANGELOG.md).

Pieces that modulate to the dominant (or dwell on the relative key) leave two
keys almost tied. Music tends to close on its tonic chord, so when a key a fifth
or a relative away from the best scores within ``FINAL_CHORD_MARGIN`` of it and
its tonic is the root of the final chord (the major or minor triad that best
fits the chroma of the last two audible seconds), that key is taken. The margin
is chosen on harness corpora rendered with other seeds than the reported one:
grooves, which often end on the dominant, keep their clear margins and their
keys.

``key_confidence`` is the winning correlation (0 when negative);
``mode_confidence`` grows with the gap between the best major and the best
minor correlation. Where no key is clear (noise, unpitched percussion, silence)
``key`` is ``-1`` as in Spotify's API.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["PROFILES", "Key", "chord_root", "estimate_key", "settle_on_final_chord"]

F64 = npt.NDArray[np.float64]

PROFILES: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "temperley": (
        (0.748, 0.060, 0.488, 0.082, 0.670, 0.460, 0.096, 0.715, 0.104, 0.366, 0.057, 0.400),
        (0.712, 0.084, 0.474, 0.618, 0.049, 0.460, 0.105, 0.747, 0.404, 0.067, 0.133, 0.330),
    ),
    "krumhansl": (
        (6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88),
        (6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17),
    ),
}
DEFAULT_PROFILE = "temperley"
MIN_KEY_CORRELATION = 0.35
"""Below this correlation the chroma has no clear key: ``key = -1``."""
FINAL_CHORD_MARGIN = 0.05
_TRIADS = {1: (0, 4, 7), 0: (0, 3, 7)}  # mode -> pitch classes above the root


@dataclass(frozen=True, slots=True)
class Key:
    key: int  # 0 = C ... 11 = B, -1 = none
    mode: int  # 1 major, 0 minor
    key_confidence: float
    mode_confidence: float
    scores: tuple[float, ...] = ()  # 24 correlations: majors C..B then minors C..B


def _templates(profile: str) -> F64:
    major, minor = (np.asarray(p, dtype=np.float64) for p in PROFILES[profile])
    rows = [np.roll(major, k) for k in range(12)] + [np.roll(minor, k) for k in range(12)]
    return np.array(rows)


def key_scores(chroma_sum: F64, profile: str = DEFAULT_PROFILE) -> F64:
    """Pearson correlation of a 12-bin chroma vector with the 24 rotated profiles."""
    templates = _templates(profile)
    x = chroma_sum - chroma_sum.mean()
    t = templates - templates.mean(axis=1, keepdims=True)
    denom = np.linalg.norm(t, axis=1) * (np.linalg.norm(x) + 1e-12)
    return np.asarray(t @ x / denom, dtype=np.float64)


def summed_chroma(chroma: npt.NDArray[np.floating[Any]], weights: F64 | None = None) -> F64:
    data = chroma.astype(np.float64)
    if weights is not None and len(weights) == len(data) and weights.sum() > 0:
        return np.asarray(weights @ data, dtype=np.float64)
    return np.asarray(data.sum(axis=0), dtype=np.float64)


def estimate_key(chroma_sum: F64, profile: str = DEFAULT_PROFILE) -> Key:
    if not np.isfinite(chroma_sum).all() or chroma_sum.sum() <= 1e-9 or chroma_sum.std() < 1e-9:
        return Key(-1, 0, 0.0, 0.0)
    scores = key_scores(chroma_sum, profile)
    best = int(np.argmax(scores))
    correlation = float(scores[best])
    gap = float(scores[:12].max() - scores[12:].max())
    mode_confidence = float(np.clip(abs(gap) * 4.0, 0.0, 1.0))
    if correlation < MIN_KEY_CORRELATION:
        return Key(-1, 1 if gap >= 0 else 0, max(correlation, 0.0), mode_confidence, tuple(scores))
    return Key(best % 12, 1 if best < 12 else 0, correlation, mode_confidence, tuple(scores))


def chord_root(chroma_sum: F64) -> int:
    """Root (0-11) of the major or minor triad that best fits a chroma vector; -1 if flat."""
    centred = chroma_sum - chroma_sum.mean()
    if not np.isfinite(centred).all() or np.abs(centred).max() < 1e-9:
        return -1
    best, root = -math.inf, -1
    for intervals in _TRIADS.values():
        for candidate in range(12):
            fit = float(sum(centred[(candidate + i) % 12] for i in intervals))
            if fit > best:
                best, root = fit, candidate
    return root


def _related(a: tuple[int, int], b: tuple[int, int]) -> bool:
    """A fifth apart in the same mode, or relative major/minor."""
    (ka, ma), (kb, mb) = a, b
    if ma == mb:
        return (kb - ka) % 12 in (5, 7)
    return (kb - ka) % 12 == (9 if ma == 1 else 3)


def settle_on_final_chord(key: Key, final_root: int) -> Key:
    """Prefer a near-tied related key whose tonic is the final chord's root."""
    if key.key < 0 or final_root < 0 or final_root == key.key or len(key.scores) != 24:
        return key
    scores = key.scores
    mode = 1 if scores[final_root] >= scores[12 + final_root] else 0
    index = final_root if mode == 1 else 12 + final_root
    best = max(scores)
    if not _related((key.key, key.mode), (final_root, mode)):
        return key
    if best - scores[index] >= FINAL_CHORD_MARGIN:
        return key
    return Key(final_root, mode, scores[index], key.mode_confidence, scores)
