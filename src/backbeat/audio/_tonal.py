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

**Chords name the tonic** where the pitches cannot. Modal and pop music (aeolian
i-VI-III-VII, mixolydian I-bVII-IV, loops resting on V) uses exactly the pitch set
of another key: A aeolian is C major's, C mixolydian F major's. A profile can only
say which *pitch set* sounds; which of its notes is home is told by the chords: the
tonic triad sounds longer than the others, opens the music and closes it. So each
key's score (:func:`harmonic_key`) is its profile correlation or its modal reading,
whichever is higher: for a minor key the relative major's correlation less
``AEOLIAN_PENALTY``, for a major key the correlation of the major key a fourth above
less ``MIXOLYDIAN_PENALTY``. Added to it: ``TONIC_WEIGHT`` times the share of the music
(beat by beat) whose chord is the key's tonic triad, and ``FIRST_WEIGHT`` and
``LAST_WEIGHT`` when the first and the final chord are. A dominant seventh is never a
tonic (loops resting on V7). The chords (:func:`chord_of`) are the best of 36
templates (major, minor and dominant-seventh chords on 12 roots) by cosine. The weights
are chosen by ``benchmarks/audio_eval/fit_key.py`` on a harness rendered with another
seed than the reported one (figures: CHANGELOG.md).

``key_confidence`` is the winning correlation (0 when negative);
``mode_confidence`` grows with the gap between the best major and the best
minor correlation. Where no key is clear (noise, unpitched percussion, silence)
``key`` is ``-1`` as in Spotify's API.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "PROFILES",
    "Harmony",
    "Key",
    "chord_of",
    "chord_root",
    "estimate_key",
    "harmonic_key",
    "harmonic_scores",
    "harmony_evidence",
    "modal_scores",
    "settle_on_final_chord",
]

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
# Chord templates: quality -> pitch classes above the root; "maj" and "min" can be tonics.
CHORD_QUALITIES = {"maj": (0, 4, 7), "min": (0, 3, 7), "dom7": (0, 4, 7, 10)}
# The harmonic key model (see the module docstring), chosen by fit_key.py.
AEOLIAN_PENALTY = 0.0  # aeolian and its relative major tie: the chords decide
MIXOLYDIAN_PENALTY = 0.1
TONIC_WEIGHT = 0.3
FIRST_WEIGHT = 0.2
LAST_WEIGHT = 0.0  # fitted to nothing: loops stop on any chord of their cycle
BASS_WEIGHT = 0.15  # how much the bass note lifts a chord rooted on it (chord_of)


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


def _chord_templates() -> tuple[F64, list[tuple[int, str]]]:
    rows, labels = [], []
    for quality, intervals in CHORD_QUALITIES.items():
        for root in range(12):
            row = np.zeros(12)
            row[[(root + i) % 12 for i in intervals]] = 1.0
            rows.append(row / np.linalg.norm(row))
            labels.append((root, quality))
    return np.array(rows), labels


_CHORDS, _CHORD_LABELS = _chord_templates()


def chord_of(chroma_vector: F64, bass: F64 | None = None) -> tuple[int, str]:
    """(root, quality) of the chord template closest (cosine) to a chroma vector, each
    root raised by ``BASS_WEIGHT`` times the bass's share of that pitch class (a chord
    stands on its root: A C# E over an A is A major, not C# minor); ``(-1, "none")``
    for a flat or silent one."""
    x = np.asarray(chroma_vector, dtype=np.float64)
    if not np.isfinite(x).all() or x.max() - x.min() < 1e-9:
        return -1, "none"
    x = x - x.min()
    scores = _CHORDS @ (x / (np.linalg.norm(x) + 1e-12))
    if bass is not None and np.isfinite(bass).all() and bass.max() > 1e-9:
        roots = np.array([root for root, _ in _CHORD_LABELS])
        scores = scores + BASS_WEIGHT * (bass / bass.max())[roots]
    return _CHORD_LABELS[int(np.argmax(scores))]


def _tonic_index(chord: tuple[int, str]) -> int:
    """The key index (0-11 major, 12-23 minor) whose tonic triad the chord is, or -1."""
    root, quality = chord
    if root < 0 or quality not in ("maj", "min"):
        return -1
    return root if quality == "maj" else 12 + root


@dataclass(frozen=True, slots=True)
class Harmony:
    """What the chords say of each key: the share of the music whose chord is its tonic
    triad (24 values: majors C..B then minors C..B), and which key's tonic triad the
    first and the final chord are (-1: none, or a dominant seventh)."""

    tonic_share: tuple[float, ...]
    first: int
    last: int


def harmony_evidence(
    chroma: npt.NDArray[np.floating[Any]],
    bass: npt.NDArray[np.floating[Any]],
    edges: npt.NDArray[np.int64],
    bar: int,
) -> Harmony:
    """Chords of the chroma frames between consecutive ``edges`` (beats, in chroma
    frames) over their bass, weighted by their length; the first and the final chord
    are those of the first and the last ``bar`` pieces."""
    data, low = chroma.astype(np.float64), bass.astype(np.float64)
    has_bass = len(low) == len(data)

    def chord(a: int, b: int) -> tuple[int, str]:
        return chord_of(data[a:b].mean(axis=0), low[a:b].mean(axis=0) if has_bass else None)

    share = np.zeros(24)
    for a, b in itertools.pairwise(edges):
        if b <= a or a >= len(data):
            continue
        index = _tonic_index(chord(int(a), int(b)))
        if index >= 0:
            share[index] += b - a
    total = float(max(edges[-1] - edges[0], 1)) if len(edges) > 1 else 1.0
    return Harmony(
        tuple(float(v) for v in share / total),
        _tonic_index(chord(int(edges[0]), int(edges[bar]))),
        _tonic_index(chord(int(edges[-1 - bar]), int(edges[-1]))),
    )


def modal_scores(
    scores: F64, aeolian: float = AEOLIAN_PENALTY, mixolydian: float = MIXOLYDIAN_PENALTY
) -> F64:
    """Each key's profile correlation or its modal reading (minor: aeolian, the relative
    major's correlation; major: mixolydian, the major key a fourth above), less its
    penalty (``AEOLIAN_PENALTY``, ``MIXOLYDIAN_PENALTY``), whichever is higher."""
    majors = scores[:12]
    by_mixolydian = np.roll(majors, -5) - mixolydian  # C mixolydian: F major's pitch set
    by_aeolian = np.roll(majors, -3) - aeolian  # A aeolian: C major's pitch set
    return np.concatenate([np.maximum(majors, by_mixolydian), np.maximum(scores[12:], by_aeolian)])


def harmonic_scores(
    pitch: F64,
    harmony: Harmony,
    tonic: float = TONIC_WEIGHT,
    first: float = FIRST_WEIGHT,
    last: float = LAST_WEIGHT,
) -> F64:
    """The 24 keys' scores: :func:`modal_scores` plus what the chords say of each."""
    total = pitch + tonic * np.asarray(harmony.tonic_share)
    for index, weight in ((harmony.first, first), (harmony.last, last)):
        if index >= 0:
            total[index] += weight
    return total


def harmonic_key(chroma_sum: F64, harmony: Harmony, profile: str = DEFAULT_PROFILE) -> Key:
    """Key from the pitch profile and the chords (see the module docstring)."""
    plain = estimate_key(chroma_sum, profile)
    if plain.key < 0 or len(plain.scores) != 24:
        return plain
    pitch = modal_scores(np.asarray(plain.scores))
    total = harmonic_scores(pitch, harmony)
    best = int(np.argmax(total))
    gap = float(total[:12].max() - total[12:].max())
    return Key(
        best % 12,
        1 if best < 12 else 0,
        float(max(pitch[best], 0.0)),
        float(np.clip(abs(gap) * 4.0, 0.0, 1.0)),
        plain.scores,
    )
