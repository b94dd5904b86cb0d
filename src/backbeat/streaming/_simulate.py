"""A trace-driven ABR simulator and the QoE it is judged by.

Traces: two columns per line, time (s) and throughput (Mbit/s) over the following interval
(Pensieve's "cooked" format). :func:`load_traces` checks them: numbers, times strictly
increasing, no gap over 60 s, throughput never negative and not zero throughout.

The simulator follows Pensieve's test environment (Mao et al., SIGCOMM 2017): each trace
plays ``segments`` segments from its start, looping over the trace when it ends; a segment's
download takes its bytes at the trace's throughput times 0.95 (packet payload share) plus
the request latency (80 ms RTT by default); the buffer drains while downloading, stalls when
empty, and the player waits (in 500 ms steps) while the buffer is over ``buffer_max_s``. The
first segment is fetched at rung ``start_rung`` before any measurement, as in Pensieve.
``scale`` multiplies every throughput: the traces were measured for video, audio ladders are
10-100x smaller, so an audio run scales them down (or keeps them and lets latency dominate).

QoE:

- ``qoe_lin`` (MPC, Pensieve): per segment, bitrate in Mbit/s minus 4.3 x stall seconds minus
  the absolute bitrate change in Mbit/s; reported as the mean per segment, the first (fixed)
  segment excluded from the sum but counted in the mean (Pensieve's convention).
- ``qoe_audio`` (ours): bitrate utility means nothing linear for audio: listeners hear no
  difference above transparency (about 128 kbit/s for Opus, 192 for AAC-LC) and a stall is
  far worse than any bitrate step. Per segment, the perceived quality is
  ``log(1 + b / 24) / log(1 + T / 24)`` capped at 1 (``b`` the bitrate, ``T`` the codec's
  transparency; concave: 32 kbit/s Opus is 0.46, 64 is 0.70, 96 is 0.87), minus 3 per second
  of stall (a 1 s stall costs three segments of transparent audio), minus 0.1 per rung
  change; the start-up delay counts as stall time.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from backbeat.streaming._abr import AbrAlgorithm, AbrState, _check_ladder
from backbeat.streaming._errors import streaming_error

__all__ = [
    "AUDIO_TRANSPARENCY_KBPS",
    "SessionResult",
    "SimulationResult",
    "Trace",
    "audio_quality",
    "load_traces",
    "simulate",
]

PAYLOAD_SHARE = 0.95
DRAIN_STEP_S = 0.5
MAX_GAP_S = 60.0
AUDIO_TRANSPARENCY_KBPS = {"opus": 128.0, "aac": 192.0, "mp3": 256.0}


@dataclass(frozen=True)
class Trace:
    name: str
    times: tuple[float, ...]
    mbps: tuple[float, ...]


def _read(path: Path) -> Trace:
    times: list[float] = []
    mbps: list[float] = []
    with path.open(encoding="utf-8", errors="replace") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            parts = line.split()
            try:
                t, b = float(parts[0]), float(parts[1])
            except (IndexError, ValueError):
                raise streaming_error(
                    "streaming.trace_invalid",
                    "Trace {file} line {line}: expected two numbers, time and Mbit/s.",
                    file=str(path),
                    line=number,
                ) from None
            if not (math.isfinite(t) and math.isfinite(b)) or b < 0:
                raise streaming_error(
                    "streaming.trace_invalid",
                    "Trace {file} line {line}: throughput must be a finite number >= 0.",
                    file=str(path),
                    line=number,
                )
            if times and t <= times[-1]:
                raise streaming_error(
                    "streaming.trace_invalid",
                    "Trace {file} line {line}: times must increase.",
                    file=str(path),
                    line=number,
                )
            if times and t - times[-1] > MAX_GAP_S:
                raise streaming_error(
                    "streaming.trace_gap",
                    "Trace {file} line {line}: a gap of {gap:.0f} s (at most 60).",
                    file=str(path),
                    line=number,
                    gap=t - times[-1],
                )
            times.append(t)
            mbps.append(b)
    if len(times) < 2 or not any(b > 0 for b in mbps[1:]):
        raise streaming_error(
            "streaming.trace_empty",
            "Trace {file} has no interval with throughput: nothing could be downloaded.",
            file=str(path),
        )
    return Trace(path.name, tuple(times), tuple(mbps))


def load_traces(source: Path | Iterable[Path]) -> list[Trace]:
    """Every trace in a folder (sorted by name), or the given files."""
    if isinstance(source, Path):
        if not source.exists():
            raise streaming_error(
                "streaming.trace_missing", "No trace file or folder {path}.", path=str(source)
            )
        paths = sorted(p for p in source.iterdir() if p.is_file()) if source.is_dir() else [source]
    else:
        paths = list(source)
    traces = [_read(p) for p in paths if not p.name.startswith((".", "README"))]
    if not traces:
        raise streaming_error("streaming.trace_missing", "No traces in {path}.", path=str(source))
    return traces


def audio_quality(kbps: float, codec: str = "opus") -> float:
    """Perceived quality in [0, 1] of ``kbps`` of ``codec`` (1: transparent)."""
    top = AUDIO_TRANSPARENCY_KBPS.get(codec)
    if top is None:
        raise streaming_error(
            "streaming.codec",
            "Unknown codec {codec}: use {known}.",
            codec=codec,
            known=", ".join(AUDIO_TRANSPARENCY_KBPS),
        )
    return min(1.0, math.log1p(kbps / 24.0) / math.log1p(top / 24.0))


@dataclass
class SessionResult:
    trace: str
    rungs: list[int] = field(default_factory=list)
    stalls_s: list[float] = field(default_factory=list)
    startup_s: float = 0.0
    played_s: float = 0.0

    def metrics(self, ladder: Sequence[float], codec: str | None) -> dict[str, float]:
        n = len(self.rungs)
        rates = [ladder[r] / 1000 for r in self.rungs]
        lin = [
            rates[i] - 4.3 * self.stalls_s[i] - abs(rates[i] - rates[i - 1]) for i in range(1, n)
        ]
        switches = sum(1 for a, b in zip(self.rungs, self.rungs[1:], strict=False) if a != b)
        stall = sum(self.stalls_s[1:])
        out = {
            "qoe_lin": sum(lin) / n if n else 0.0,
            "bitrate_kbps": sum(ladder[r] for r in self.rungs) / n if n else 0.0,
            "rebuffer_ratio": stall / (self.played_s + stall) if self.played_s else 0.0,
            "switches_per_min": switches / (self.played_s / 60) if self.played_s else 0.0,
            "startup_s": self.startup_s,
        }
        if codec is not None:
            quality = [audio_quality(ladder[r], codec) for r in self.rungs]
            changes = [0.0] + [
                0.1 * (a != b) for a, b in zip(self.rungs, self.rungs[1:], strict=False)
            ]
            stalls = [self.startup_s, *self.stalls_s[1:]]
            per = [q - 3.0 * s - c for q, s, c in zip(quality, stalls, changes, strict=True)]
            out["qoe_audio"] = sum(per) / n if n else 0.0
        return out


@dataclass
class SimulationResult:
    algorithm: str
    sessions: list[SessionResult]
    summary: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        return {"algorithm": self.algorithm, "traces": len(self.sessions), **self.summary}


def _play(
    trace: Trace,
    algorithm: AbrAlgorithm,
    *,
    ladder: Sequence[float],
    segment_s: float,
    segments: int,
    scale: float,
    latency_s: float,
    buffer_max_s: float,
    start_rung: int,
) -> SessionResult:
    times, rates = trace.times, [b * scale for b in trace.mbps]
    ptr, clock = 1, times[0]
    buffer = 0.0
    session = SessionResult(trace.name)
    state = AbrState(ladder_kbps=ladder, segment_s=segment_s, buffer_s=0.0, last_rung=start_rung)
    throughputs: list[float] = []
    latencies: list[float] = []
    rung = start_rung
    for index in range(segments):
        if index:
            state.buffer_s = buffer
            state.throughputs_kbps = throughputs
            state.latencies_s = latencies
            state.segments_left = segments - index
            state.playing = True
            forecast = getattr(algorithm, "forecast", None)
            predicted = forecast(state) if forecast is not None else 0.0
            rung = algorithm.choose(state)
        size = ladder[rung] * 1000 * segment_s / 8  # bytes
        sent, spent = 0.0, 0.0
        while True:
            bytes_per_s = rates[ptr] * 1e6 / 8
            duration = times[ptr] - clock
            payload = bytes_per_s * duration * PAYLOAD_SHARE
            if payload > 0 and sent + payload >= size:
                fraction = (size - sent) / bytes_per_s / PAYLOAD_SHARE
                spent += fraction
                clock += fraction
                break
            sent += payload
            spent += duration
            clock = times[ptr]
            ptr += 1
            if ptr >= len(times):
                ptr, clock = 1, times[0]
        delay = spent + latency_s
        stall = max(delay - buffer, 0.0)
        if index == 0:
            session.startup_s = delay
        buffer = max(buffer - delay, 0.0) + segment_s
        if buffer > buffer_max_s:  # wait, in steps, until there is room
            wait = math.ceil((buffer - buffer_max_s) / DRAIN_STEP_S) * DRAIN_STEP_S
            buffer -= wait
            remaining = wait
            while remaining > 0:
                step = min(times[ptr] - clock, remaining)
                clock += step
                remaining -= step
                if remaining > 0 or clock >= times[ptr]:
                    ptr += 1
                    if ptr >= len(times):
                        ptr, clock = 1, times[0]
        measured = ladder[rung] * segment_s / spent if spent > 0 else 0.0  # kbps
        if index:
            observe = getattr(algorithm, "observe", None)
            if observe is not None:
                observe(state, predicted, measured)
        throughputs.append(measured)
        latencies.append(latency_s)
        state.last_rung = rung
        session.rungs.append(rung)
        session.stalls_s.append(stall if index else 0.0)
        session.played_s += segment_s
    return session


def simulate(
    traces: Sequence[Trace],
    algorithm: AbrAlgorithm,
    *,
    ladder_kbps: Sequence[float] = (300, 750, 1200, 1850, 2850, 4300),
    segment_s: float = 4.0,
    segments: int = 48,
    scale: float = 1.0,
    latency_s: float = 0.08,
    buffer_max_s: float = 60.0,
    start_rung: int = 1,
    codec: str | None = None,
) -> SimulationResult:
    """Play every trace with ``algorithm``; the summary is the mean over traces of each
    session's metrics (``qoe_lin``, ``bitrate_kbps``, ``rebuffer_ratio``,
    ``switches_per_min``, ``startup_s`` and, with ``codec``, ``qoe_audio``)."""
    _check_ladder(ladder_kbps)
    if not traces:
        raise streaming_error("streaming.trace_missing", "No traces to simulate.")
    if scale <= 0 or segment_s <= 0 or segments < 1:
        raise streaming_error(
            "streaming.simulation_invalid",
            "scale, segment duration and segment count must be positive.",
        )
    start = min(max(start_rung, 0), len(ladder_kbps) - 1)
    sessions = [
        _play(
            trace,
            algorithm,
            ladder=ladder_kbps,
            segment_s=segment_s,
            segments=segments,
            scale=scale,
            latency_s=latency_s,
            buffer_max_s=buffer_max_s,
            start_rung=start,
        )
        for trace in traces
    ]
    per = [s.metrics(ladder_kbps, codec) for s in sessions]
    summary = {k: sum(m[k] for m in per) / len(per) for k in per[0]}
    return SimulationResult(algorithm.name, sessions, summary)
