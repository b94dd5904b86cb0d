"""The Numenta Anomaly Benchmark's scoring (Lavin and Ahmad, ICMLA 2015), from the paper.

Each labelled anomaly has a window around it. A detection inside a window scores by a
scaled sigmoid of its position (the window's left edge ~ +1, its right edge 0): only
the window's best (earliest) detection counts, and a window with none costs ``-fn``.
A detection outside every window costs ``fp`` x the sigmoid of its distance past the
previous window's right edge (-1 when no window precedes it: the full ``-fp``). The first
15% of each file (at most 750 points) is a probationary period that is not scored. One
threshold on the detector's scores is chosen for the whole corpus per profile (the one
that maximises the total), and the total is normalised to 100 x (raw - null) / (perfect -
null), where the null detector detects nothing and the perfect one detects every window
at its left edge. Profiles (weights tp, fp, fn): standard (1, 0.11, 1), reward_low_FP
(1, 0.22, 1), reward_low_FN (1, 0.11, 2).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

__all__ = ["PROFILES", "NabFile", "NabResult", "load_corpus", "score_corpus"]

PROFILES: dict[str, tuple[float, float, float]] = {
    "standard": (1.0, 0.11, 1.0),
    "reward_low_FP_rate": (1.0, 0.22, 1.0),
    "reward_low_FN_rate": (1.0, 0.11, 2.0),
}
PROBATION = 0.15

PROBATIONARY = -2
OUTSIDE = -1


def _sigmoid(position: float) -> float:
    """The scaled sigmoid: -1 at the window's left edge -> 0.987, 0 -> 0, 1 -> -0.987."""
    if position > 3.0:
        return -1.0
    return 2.0 / (1.0 + math.exp(5.0 * position)) - 1.0


@dataclass(frozen=True, slots=True)
class NabFile:
    name: str
    timestamps: NDArray[np.datetime64]
    values: NDArray[np.float64]
    windows: tuple[tuple[int, int], ...]  # inclusive index ranges

    def labels(self) -> NDArray[np.bool_]:
        """A boolean per point: inside an anomaly window."""
        out = np.zeros(len(self.values), dtype=bool)
        for a, b in self.windows:
            out[a : b + 1] = True
        return out


def load_corpus(root: Path, *, only: Iterable[str] | None = None) -> list[NabFile]:
    """Every ``data/*/*.csv`` of a NAB checkout with its windows (``labels/``)."""
    windows = json.loads((root / "labels" / "combined_windows.json").read_text())
    wanted = set(only) if only is not None else None
    files = []
    for name in sorted(windows):
        if wanted is not None and name not in wanted:
            continue
        raw = np.genfromtxt(
            root / "data" / name, delimiter=",", skip_header=1, dtype=None, encoding="utf-8"
        )
        stamps = np.array([np.datetime64(r[0].replace(" ", "T")) for r in raw])
        values = np.array([float(r[1]) for r in raw])
        spans = []
        for start, end in windows[name]:
            a = int(np.searchsorted(stamps, np.datetime64(start.replace(" ", "T")), "left"))
            b = int(np.searchsorted(stamps, np.datetime64(end.replace(" ", "T")), "right")) - 1
            if a <= b:
                spans.append((a, b))
        files.append(NabFile(name, stamps, values, tuple(spans)))
    return files


def _sweep(file: NabFile, weights: tuple[float, float, float], offset: int):  # type: ignore[no-untyped-def]
    """Per point: its weighted score if detected, and its window id (or OUTSIDE/PROBATIONARY)."""
    tp_w, fp_w, _ = weights
    n = len(file.values)
    probation = min(math.floor(PROBATION * n), PROBATION * 5000)
    score = np.empty(n)
    window = np.full(n, OUTSIDE, dtype=np.int64)
    max_tp = _sigmoid(-1.0)
    prev_right: int | None = None
    prev_width = 0.0
    spans = list(file.windows)
    k = 0
    i = 0
    while i < n:
        if k < len(spans) and i >= spans[k][0]:
            a, b = spans[k]
            width = float(b - a + 1)
            for j in range(a, b + 1):
                score[j] = _sigmoid(-(b - j + 1) / width) * tp_w / max_tp
                window[j] = offset + k
            prev_right, prev_width = b, width
            k += 1
            i = b + 1
            continue
        if prev_right is None:
            score[i] = -1.0 * fp_w
        else:
            score[i] = _sigmoid(abs(prev_right - i) / (prev_width - 1)) * fp_w
        i += 1
    window[: int(probation)] = PROBATIONARY
    return score, window


@dataclass(frozen=True, slots=True)
class NabResult:
    profile: str
    score: float  # normalised, 0 = null detector, 100 = perfect
    raw: float
    threshold: float
    tp: int  # windows detected
    fp: int  # points detected outside windows
    fn: int  # windows missed

    def to_dict(self) -> dict[str, float | int | str]:
        return {
            "profile": self.profile,
            "score": round(self.score, 2),
            "threshold": self.threshold,
            "windows_detected": self.tp,
            "windows_missed": self.fn,
            "false_positive_points": self.fp,
        }


def score_corpus(
    corpus: list[NabFile],
    scores: dict[str, NDArray[np.float64]],
    profile: str = "standard",
    *,
    threshold: float | None = None,
) -> NabResult:
    """The normalised NAB score of ``scores`` (one array per file, values in [0, 1]).

    Without ``threshold`` the best one for the corpus is chosen, as NAB does."""
    weights = PROFILES[profile]
    tp_w, _, fn_w = weights
    point_scores, windows, detector = [], [], []
    offset = 0
    for file in corpus:
        s, w = _sweep(file, weights, offset)
        offset += len(file.windows)
        point_scores.append(s)
        windows.append(w)
        detector.append(np.asarray(scores[file.name], dtype=np.float64))
    sweep = np.concatenate(point_scores)
    win = np.concatenate(windows)
    det = np.concatenate(detector)
    keep = win != PROBATIONARY
    sweep, win, det = sweep[keep], win[keep], det[keep]
    counted = np.unique(win[win >= 0])
    n_windows = len(counted)
    null = -fn_w * n_windows
    perfect = tp_w * n_windows
    order = np.argsort(-det, kind="stable")
    best: tuple[float, float, int, int] | None = None
    window_best = {int(w): -fn_w for w in counted}
    total = null
    fp = 0
    detected = 0

    def consider(th: float) -> None:
        nonlocal best
        if threshold is not None:
            return
        if best is None or total > best[0]:
            best = (total, th, fp, detected)

    consider(1.1)
    prev = None
    at_threshold: tuple[float, int, int] | None = None
    for idx in order:
        value = float(det[idx])
        if threshold is not None and value < threshold:
            break
        if prev is not None and value != prev:
            consider(prev)
        prev = value
        w = int(win[idx])
        if w < 0:
            total += float(sweep[idx])
            fp += 1
        else:
            old = window_best[w]
            if old == -fn_w:
                detected += 1
            if sweep[idx] > old:
                total += float(sweep[idx]) - old
                window_best[w] = float(sweep[idx])
    if threshold is not None:
        at_threshold = (total, fp, detected)
        raw, fps, hits, th = at_threshold[0], at_threshold[1], at_threshold[2], threshold
    else:
        if prev is not None:
            consider(prev)
        assert best is not None
        raw, th, fps, hits = best
    norm = 100.0 * (raw - null) / (perfect - null) if perfect != null else 0.0
    return NabResult(profile, norm, raw, th, hits, fps, n_windows - hits)


Detector = Callable[[NabFile], NDArray[np.float64]]
