"""Metric series in and out: CSV reading with named errors, a labelled generator, and
event-level precision, recall and detection delay.

``read_series(path)`` reads ``timestamp,value`` (ISO-8601 or Unix seconds), refusing
gaps in the header, duplicates, unparsable or non-numeric cells with the line named;
unsorted rows are refused too (a streaming detector sees time in order).

``generate_labelled(kind, n, seed)`` makes a series with a daily cycle and noise plus
planted anomalies of one kind (``spike``, ``level_shift``, ``contextual_dip``,
``drift``) and returns their index ranges; anyone can regenerate it from the seed.
"""

from __future__ import annotations

import csv
import datetime as dt
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from backbeat.monitoring._errors import series_error

__all__ = [
    "ANOMALY_KINDS",
    "EventScore",
    "LabelledSeries",
    "Series",
    "detections",
    "event_scores",
    "generate_labelled",
    "read_series",
]

ANOMALY_KINDS = ("spike", "level_shift", "contextual_dip", "drift")


@dataclass(frozen=True, slots=True)
class Series:
    timestamps: NDArray[np.float64]  # Unix seconds
    values: NDArray[np.float64]
    labels: tuple[str, ...]  # the timestamps as written in the file

    def __len__(self) -> int:
        return len(self.values)


def _timestamp(raw: str) -> float:
    text = raw.strip()
    try:
        return float(text)
    except ValueError:
        pass
    stamp = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=dt.UTC)
    return stamp.timestamp()


def read_series(path: Path) -> Series:
    """``timestamp,value`` rows; a header row is expected and checked."""
    source = str(path)
    try:
        handle = path.open(newline="", encoding="utf-8")
    except OSError as exc:
        raise series_error(source, 0, f"cannot be opened ({exc.strerror})") from None
    stamps: list[float] = []
    values: list[float] = []
    labels: list[str] = []
    with handle:
        reader = csv.reader(handle)
        try:
            header = next(reader)
        except StopIteration:
            raise series_error(source, 1, "the file is empty") from None
        except (csv.Error, UnicodeDecodeError) as exc:
            raise series_error(source, 1, f"not CSV text ({exc})") from None
        columns = [h.strip().lower() for h in header]
        if "timestamp" not in columns or "value" not in columns:
            raise series_error(source, 1, "the header must name the columns timestamp and value")
        ti, vi = columns.index("timestamp"), columns.index("value")
        seen: set[float] = set()
        try:
            for row in reader:
                line = reader.line_num
                if not row or all(not c.strip() for c in row):
                    continue
                if len(row) <= max(ti, vi):
                    raise series_error(source, line, f"expected {len(columns)} columns")
                try:
                    t = _timestamp(row[ti])
                except ValueError:
                    raise series_error(
                        source, line, f"column timestamp: {row[ti][:40]!r} is not a time"
                    ) from None
                try:
                    v = float(row[vi])
                except ValueError:
                    raise series_error(
                        source, line, f"column value: {row[vi][:40]!r} is not a number"
                    ) from None
                if not math.isfinite(v):
                    raise series_error(source, line, f"column value: {row[vi]!r} is not finite")
                if t in seen:
                    raise series_error(source, line, f"timestamp {row[ti]!r} appears twice")
                if stamps and t < stamps[-1]:
                    raise series_error(source, line, "timestamps must increase (sort the file)")
                seen.add(t)
                stamps.append(t)
                values.append(v)
                labels.append(row[ti].strip())
        except (csv.Error, UnicodeDecodeError) as exc:
            raise series_error(source, reader.line_num, f"not CSV text ({exc})") from None
    if len(values) < 2:
        raise series_error(source, max(2, reader.line_num), "a series needs at least two rows")
    return Series(np.array(stamps), np.array(values), tuple(labels))


@dataclass(frozen=True, slots=True)
class LabelledSeries:
    kind: str
    timestamps: NDArray[np.float64]
    values: NDArray[np.float64]
    anomalies: tuple[tuple[int, int], ...]  # inclusive index ranges


def generate_labelled(
    kind: str, n: int = 4032, seed: int = 0, *, step_s: float = 300.0, count: int = 4
) -> LabelledSeries:
    """A 5-minute series (14 days by default) with a daily cycle, noise and ``count``
    planted anomalies of ``kind``, none in the first 20% (the detectors' warm-up)."""
    if kind not in ANOMALY_KINDS:
        raise ValueError(f"kind must be one of {ANOMALY_KINDS}")
    rng = np.random.default_rng(seed)
    t = np.arange(n, dtype=float)
    period = 86400.0 / step_s
    base = 100 + 30 * np.sin(2 * np.pi * t / period) + rng.normal(0, 3, n)
    values = base.copy()
    starts = np.sort(rng.choice(np.arange(int(0.25 * n), n - 200, 400), count, replace=False))
    spans = []
    for s in starts:
        s = int(s)
        if kind == "spike":
            values[s] += rng.choice([-1, 1]) * rng.uniform(30, 60)
            spans.append((s, s))
        elif kind == "level_shift":
            e = min(n - 1, s + 60)
            values[s : e + 1] += rng.choice([-1, 1]) * rng.uniform(25, 40)
            spans.append((s, e))
        elif kind == "contextual_dip":
            # a dip at the daily peak to what is normal at night: in range, out of context
            phase = round((period / 4 - s) % period)
            s2 = min(n - 40, s + phase)
            values[s2 : s2 + 24] -= 45
            spans.append((s2, s2 + 23))
        else:  # drift: a slow ramp away from the pattern
            e = min(n - 1, s + 120)
            values[s : e + 1] += np.linspace(0, rng.choice([-1, 1]) * 50, e - s + 1)
            spans.append((s, e))
    stamps = 1_700_000_000.0 + t * step_s
    return LabelledSeries(kind, stamps, values, tuple(spans))


def detections(scores: NDArray[np.float64], threshold: float) -> NDArray[np.int64]:
    """Indices where the score reaches ``threshold``."""
    return np.flatnonzero(scores >= threshold)


@dataclass(frozen=True, slots=True)
class EventScore:
    precision: float
    recall: float
    mean_delay: float  # points from an anomaly's start to its first detection

    def to_dict(self) -> dict[str, float]:
        return {
            "precision": round(self.precision, 3),
            "recall": round(self.recall, 3),
            "mean_delay_points": round(self.mean_delay, 1),
        }


def event_scores(
    anomalies: tuple[tuple[int, int], ...], hits: NDArray[np.int64], *, tolerance: int = 30
) -> EventScore:
    """Event-level scores: an anomaly is found when a detection falls in
    ``[start, end + tolerance]``; a detection outside all of those is a false alarm."""
    found, delays = 0, []
    claimed = np.zeros(len(hits), dtype=bool)
    for a, b in anomalies:
        inside = (hits >= a) & (hits <= b + tolerance)
        if inside.any():
            found += 1
            delays.append(int(hits[inside][0]) - a)
            claimed |= inside
    true_alarms = int(claimed.sum())
    precision = true_alarms / len(hits) if len(hits) else 1.0
    recall = found / len(anomalies) if anomalies else 1.0
    return EventScore(precision, recall, float(np.mean(delays)) if delays else math.nan)
