"""Segments, sections and fades for :func:`backbeat.audio.analyze_structure`.

- **Segments** are onset-bounded: peaks of the onset envelope that stand above
  a moving median (± 0.3 s) by a margin and are at least 70 ms apart. Each
  carries Spotify's loudness fields (dB full scale of the frame RMS: start, max,
  time of max, end), 12 pitch-class values (chroma averaged over the segment,
  scaled so the strongest is 1) and 12 timbre coefficients (MFCC 1-12 averaged
  over the segment; MFCC 0, the overall level, is left out as it duplicates the
  loudness fields).
- **Sections** come from a novelty curve: beat-synchronous chroma and MFCC
  vectors, a cosine self-similarity matrix evaluated only near its diagonal, and
  Foote's Gaussian-tapered checkerboard kernel (16 beats each side) sliding along
  it (Foote 2000). Peaks at least 8 s apart and above the curve's median plus
  one standard deviation are boundaries. Memory is linear in the number of beats.
- **Fades**: the fade-in ends when the short-term level first reaches 12 dB
  below the track's 90th-percentile level; the fade-out starts after it last
  does (0 and the duration when the track starts or ends at full level).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from backbeat.audio._frontend import Frames

__all__ = ["fades", "novelty_boundaries", "onset_peaks", "segment_table"]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


def find_peaks(values: F64, height: F64, distance: int) -> I64:
    """Local maxima above ``height``, greedily kept from the highest, ``distance`` apart.

    The same rule as ``scipy.signal.find_peaks(height=, distance=)``, written here
    because importing ``scipy.signal`` costs half a second of cold start.
    """
    if len(values) < 3:
        return np.zeros(0, dtype=np.int64)
    inner = values[1:-1]
    candidates = np.flatnonzero((inner > values[:-2]) & (inner >= values[2:])) + 1
    candidates = candidates[values[candidates] > height[candidates]]
    if distance <= 1 or len(candidates) < 2:
        return candidates.astype(np.int64)
    keep = np.ones(len(candidates), dtype=bool)
    for index in np.argsort(-values[candidates], kind="stable"):
        if not keep[index]:
            continue
        position = candidates[index]
        close = np.abs(candidates - position) < distance
        close[index] = False
        keep[close] = False
    kept: I64 = candidates[keep].astype(np.int64)  # typed on numpy 2.3's stubs too
    return kept


def onset_peaks(onset: F64, frame_rate: float) -> tuple[I64, F64]:
    """Frame indices of onsets and their salience in [0, 1]."""
    if len(onset) < 3 or onset.max() <= 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    window = max(3, int(0.6 * frame_rate) | 1)
    baseline = ndimage.median_filter(onset, size=window, mode="nearest")
    threshold = baseline + 0.1 * onset.std()
    distance = max(1, int(0.07 * frame_rate))
    peaks = find_peaks(onset, threshold, distance)
    salience = np.clip((onset[peaks] - baseline[peaks]) / (onset.max() + 1e-12), 0.0, 1.0)
    return peaks.astype(np.int64), salience


def _db(values: F64) -> F64:
    return np.asarray(20.0 * np.log10(np.maximum(values, 1e-5)), dtype=np.float64)


@dataclass
class SegmentTable:
    start: F64
    duration: F64
    confidence: F64
    loudness_start: F64
    loudness_max: F64
    loudness_max_time: F64
    loudness_end: F64
    pitches: F64  # (n, 12)
    timbre: F64  # (n, 12)


def segment_table(frames: Frames, onset: F64) -> SegmentTable:
    rate = frames.frame_rate
    peaks, salience = onset_peaks(onset, rate)
    n = len(frames)
    bounds = np.unique(np.concatenate([[0], peaks, [n]])).astype(np.int64)
    confidence = np.zeros(len(bounds) - 1)
    lookup = dict(zip(peaks.tolist(), salience.tolist(), strict=True))
    for i, start in enumerate(bounds[:-1]):
        confidence[i] = lookup.get(int(start), 0.0)
    level = _db(frames.rms.astype(np.float64))
    ratio = frames.hop / frames.pitch_hop
    chroma = frames.chroma.astype(np.float64)
    timbre_source = frames.mfcc[:, 1:13].astype(np.float64) * 10.0
    rows = len(bounds) - 1
    out = {k: np.zeros(rows) for k in ("lstart", "lmax", "lmaxt", "lend")}
    pitches = np.zeros((rows, 12))
    timbre = np.zeros((rows, 12))
    for i in range(rows):
        a, b = int(bounds[i]), max(int(bounds[i + 1]), int(bounds[i]) + 1)
        piece = level[a:b]
        out["lstart"][i] = piece[0]
        top = int(np.argmax(piece))
        out["lmax"][i] = piece[top]
        out["lmaxt"][i] = top / rate
        out["lend"][i] = piece[-1]
        ca = min(int(a * ratio), max(len(chroma) - 1, 0))
        cb = max(min(int(np.ceil(b * ratio)), len(chroma)), ca + 1)
        if len(chroma):
            vector = chroma[ca:cb].mean(axis=0)
            pitches[i] = vector / (vector.max() + 1e-12)
        timbre[i] = timbre_source[a:b].mean(axis=0)
    starts = bounds[:-1] / rate
    durations = np.diff(bounds) / rate
    durations[-1] = max(frames.duration - starts[-1], 0.0)
    return SegmentTable(
        start=starts,
        duration=durations,
        confidence=confidence,
        loudness_start=out["lstart"],
        loudness_max=out["lmax"],
        loudness_max_time=out["lmaxt"],
        loudness_end=out["lend"],
        pitches=pitches,
        timbre=timbre,
    )


def beat_sync(frames: Frames, beats: I64) -> F64:
    """Chroma and MFCC averaged between consecutive beats, each block unit-normalised."""
    ratio = frames.hop / frames.pitch_hop
    edges = np.append(beats, len(frames))
    rows = []
    for a, b in itertools.pairwise(edges):
        b = max(int(b), int(a) + 1)
        ca = min(int(a * ratio), len(frames.chroma) - 1)
        cb = max(int(np.ceil(b * ratio)), ca + 1)
        chroma = frames.chroma[ca:cb].mean(axis=0)
        mfcc = frames.mfcc[a:b, 1:].mean(axis=0)
        rows.append(np.concatenate([chroma / (np.linalg.norm(chroma) + 1e-9), mfcc / 10.0]))
    matrix = np.asarray(rows, dtype=np.float64)
    matrix -= matrix.mean(axis=0)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True) + 1e-9
    return matrix


def novelty_boundaries(
    features: F64, unit_times: F64, min_gap_s: float = 8.0, half: int = 16
) -> tuple[I64, F64]:
    """Indices (into ``features``) of section starts after the first, and their novelty."""
    n = len(features)
    if n < 2 * half + 2:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    axis = np.arange(-half, half) + 0.5
    taper = np.exp(-0.5 * (axis / (half / 2)) ** 2)
    sign = np.sign(axis)
    kernel = np.outer(sign, sign) * np.outer(taper, taper)
    novelty = np.zeros(n)
    for i in range(half, n - half):
        patch = features[i - half : i + half]
        novelty[i] = float(np.sum((patch @ patch.T) * kernel))
    novelty = np.maximum(novelty, 0.0)
    if novelty.max() <= 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    novelty /= novelty.max()
    threshold = float(np.median(novelty[half:-half]) + novelty[half:-half].std())
    beat_period = float(np.median(np.diff(unit_times))) if n > 1 else 1.0
    distance = max(1, int(min_gap_s / max(beat_period, 1e-3)))
    peaks = find_peaks(novelty, np.full(n, threshold), distance)
    return peaks.astype(np.int64), novelty[peaks]


def fades(frames: Frames) -> tuple[float, float]:
    """(end of fade-in, start of fade-out) in seconds."""
    if len(frames) == 0:
        return 0.0, 0.0
    window = max(1, int(0.4 * frames.frame_rate))
    power = ndimage.uniform_filter1d(frames.rms.astype(np.float64) ** 2, window)
    level = _db(np.sqrt(np.maximum(power, 0.0)))
    if level.max() <= -99.0:
        return 0.0, frames.duration
    target = float(np.percentile(level, 90)) - 12.0
    above = np.flatnonzero(level >= target)
    end_in = above[0] / frames.frame_rate
    start_out = min((above[-1] + 1) / frames.frame_rate, frames.duration)
    return float(end_in), float(start_out)
