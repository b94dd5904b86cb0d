"""Adaptive-bitrate decisions as pure functions of what a player knows.

Every algorithm implements ``choose(state) -> rung`` over an :class:`AbrState`: the ladder
(kbps, ascending), the segment duration, the buffer level, the previous rung, the
throughputs and request latencies measured for the last segments, and the sizes of the next
segments when known. No algorithm keeps hidden state: a session keeps the history.

- :class:`ThroughputRule`: the highest rung under a safety share of the harmonic mean of the
  last five throughputs, each segment's download time including its request latency (what
  makes small audio segments slow on a high-RTT link).
- :class:`BufferBased`: BBA (Huang et al., SIGCOMM 2014): a reservoir, a cushion, a linear
  map from buffer to rung in between.
- :class:`Bola`: BOLA-BASIC (Spiteri, Urgaonkar, Sitaraman, INFOCOM 2016) with the utility
  ``ln(S_m / S_1)`` shifted to start at 1 and ``V``, ``gamma p`` derived from a buffer
  target as dash.js does; ``variant="O"`` caps the choice at the throughput rule's rung
  unless the buffer is above the target (BOLA-O's oscillation guard), ``variant="E"`` adds
  the startup placeholder (BOLA-E: a virtual buffer so that start-up is not stuck at the
  lowest rung).
- :class:`RobustMpc`: robust MPC (Yin et al., SIGCOMM 2015): the throughput forecast is the
  harmonic mean divided by (1 + the largest recent relative forecast error); every rung
  sequence over the horizon is scored by the linear QoE and the first rung of the best is
  taken (vectorised over all sequences).
- :class:`Dynamic`: dash.js's switching between the throughput rule (buffer low) and BOLA
  (buffer above a threshold), with hysteresis.
"""

from __future__ import annotations

import itertools
import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from backbeat.streaming._errors import streaming_error

__all__ = [
    "ALGORITHMS",
    "AbrAlgorithm",
    "AbrState",
    "Bola",
    "BufferBased",
    "Dynamic",
    "FastMpc",
    "RobustMpc",
    "ThroughputRule",
    "harmonic_mean",
]


@dataclass
class AbrState:
    """What a player knows before fetching the next segment.

    ``throughputs_kbps`` and ``latencies_s``: the most recent last; ``next_sizes_bits``:
    per upcoming segment, per rung (optional; nominal bitrate x duration otherwise)."""

    ladder_kbps: Sequence[float]
    segment_s: float
    buffer_s: float
    last_rung: int = 0
    throughputs_kbps: Sequence[float] = ()
    latencies_s: Sequence[float] = ()
    segments_left: int = 1_000_000
    next_sizes_bits: Sequence[Sequence[float]] | None = None
    playing: bool = True
    memo: dict[str, float] = field(default_factory=dict)


def harmonic_mean(values: Sequence[float]) -> float:
    positive = [v for v in values if v > 0]
    if not positive:
        return 0.0
    return len(positive) / sum(1.0 / v for v in positive)


def _check_ladder(ladder: Sequence[float]) -> None:
    if not ladder or any(b <= 0 for b in ladder) or list(ladder) != sorted(set(ladder)):
        raise streaming_error(
            "streaming.ladder_invalid",
            "A ladder is distinct positive bitrates in ascending order; got {ladder}.",
            ladder=", ".join(f"{b:g}" for b in ladder),
        )


def _effective_kbps(state: AbrState, window: int = 5) -> float:
    """The harmonic mean of recent throughputs, with each segment's request latency
    charged to it (what a segment of the current size would really achieve)."""
    recent = list(state.throughputs_kbps)[-window:]
    if not recent:
        return 0.0
    estimate = harmonic_mean(recent)
    latencies = list(state.latencies_s)[-window:]
    if latencies and estimate > 0:
        latency = sum(latencies) / len(latencies)
        bits = state.ladder_kbps[state.last_rung] * 1000 * state.segment_s
        transfer = bits / (estimate * 1000)
        estimate = bits / (transfer + latency) / 1000
    return estimate


class AbrAlgorithm(ABC):
    """A decision rule: :meth:`choose` the rung of the next segment."""

    name = "abr"

    @abstractmethod
    def choose(self, state: AbrState) -> int:
        """The rung (index into ``state.ladder_kbps``) to fetch next."""


@dataclass
class ThroughputRule(AbrAlgorithm):
    safety: float = 0.9
    window: int = 5
    name = "throughput"

    def choose(self, state: AbrState) -> int:
        _check_ladder(state.ladder_kbps)
        estimate = _effective_kbps(state, self.window) * self.safety
        if estimate <= 0:
            return 0
        rung = 0
        for i, rate in enumerate(state.ladder_kbps):
            if rate <= estimate:
                rung = i
        return rung


@dataclass
class BufferBased(AbrAlgorithm):
    reservoir_s: float = 5.0
    cushion_s: float = 10.0
    name = "buffer"

    def choose(self, state: AbrState) -> int:
        _check_ladder(state.ladder_kbps)
        top = len(state.ladder_kbps) - 1
        if state.buffer_s <= self.reservoir_s:
            return 0
        if state.buffer_s >= self.reservoir_s + self.cushion_s:
            return top
        share = (state.buffer_s - self.reservoir_s) / self.cushion_s
        return min(top, int(share * top))


@dataclass
class Bola(AbrAlgorithm):
    """BOLA; ``buffer_target_s``: where the top rung is reached; ``minimum_buffer_s``: below
    it the lowest rung."""

    buffer_target_s: float = 30.0
    minimum_buffer_s: float = 10.0
    variant: str = "E"  # BASIC, O or E
    name = "bola"

    def _parameters(self, ladder: Sequence[float]) -> tuple[list[float], float, float]:
        utilities = [math.log(b / ladder[0]) + 1.0 for b in ladder]
        target = max(self.buffer_target_s, self.minimum_buffer_s + 1.0)
        if len(ladder) == 1:
            return utilities, 1.0, 1.0
        gp = (utilities[-1] - 1.0) / (target / self.minimum_buffer_s - 1.0)
        vp = self.minimum_buffer_s / gp
        return utilities, gp, vp

    def _bola(self, ladder: Sequence[float], buffer_s: float) -> int:
        utilities, gp, vp = self._parameters(ladder)
        scores = [(vp * (u + gp) - buffer_s) / b for u, b in zip(utilities, ladder, strict=True)]
        return int(max(range(len(ladder)), key=lambda i: (scores[i], -i)))

    def choose(self, state: AbrState) -> int:
        _check_ladder(state.ladder_kbps)
        ladder = state.ladder_kbps
        buffer_s = state.buffer_s
        if self.variant == "E":
            # BOLA-E's placeholder: at start-up a virtual buffer worth what the first
            # throughput sustains, so start-up is not all lowest rung; it is used up by one
            # segment per decision and dropped when the real buffer nears empty.
            placeholder = state.memo.get("placeholder_s")
            if placeholder is None and state.throughputs_kbps:
                wanted = ThroughputRule(safety=0.9).choose(state)
                level = next(
                    (
                        q / 2
                        for q in range(int(2 * self.buffer_target_s) + 1)
                        if self._bola(ladder, q / 2) >= wanted
                    ),
                    self.buffer_target_s,
                )
                placeholder = max(0.0, level - buffer_s)
            elif placeholder is not None:
                placeholder = max(0.0, placeholder - state.segment_s)
            if placeholder is not None and buffer_s < state.segment_s:
                placeholder = 0.0
            if placeholder is not None:
                state.memo["placeholder_s"] = placeholder
                buffer_s += placeholder
        rung = self._bola(ladder, buffer_s)
        if self.variant in ("O", "E") and rung > state.last_rung and state.throughputs_kbps:
            # BOLA-O: no step up past what throughput sustains, unless the buffer is full
            safe = ThroughputRule(safety=1.0).choose(state)
            if buffer_s < self.buffer_target_s:
                rung = max(state.last_rung, min(rung, max(safe, state.last_rung)))
        return rung


@lru_cache(maxsize=64)
def _sequences(rungs: int, horizon: int) -> np.ndarray:
    return np.array(list(itertools.product(range(rungs), repeat=horizon)), dtype=np.int64)


@dataclass
class RobustMpc(AbrAlgorithm):
    """Robust MPC over ``horizon`` segments with the linear QoE (rebuffer penalty in
    bitrate-utility units per second, switching penalty per unit of utility change)."""

    horizon: int = 5
    rebuffer_penalty: float = 4.3
    switch_penalty: float = 1.0
    window: int = 5
    codec: str | None = None  # optimise the audio QoE of this codec instead of QoE_lin
    name = "mpc"

    def __post_init__(self) -> None:
        if self.codec is not None:  # the audio QoE's weights (see _simulate)
            self.rebuffer_penalty, self.switch_penalty = 3.0, 0.1

    def forecast(self, state: AbrState) -> float:
        past = list(state.throughputs_kbps)[-self.window :]
        if not past:
            return 0.0
        estimate = harmonic_mean(past)
        errors = state.memo.get("max_error", 0.0)
        return estimate / (1.0 + errors)

    def observe(self, state: AbrState, predicted_kbps: float, actual_kbps: float) -> None:
        """Track the forecast error (the 'robust' part): the largest of the last five."""
        if predicted_kbps <= 0 or actual_kbps <= 0:
            return
        errors = [state.memo.get(f"error_{i}", 0.0) for i in range(self.window)]
        errors = [*errors[1:], abs(predicted_kbps - actual_kbps) / actual_kbps]
        for i, e in enumerate(errors):
            state.memo[f"error_{i}"] = e
        state.memo["max_error"] = max(errors)

    def choose(self, state: AbrState) -> int:
        _check_ladder(state.ladder_kbps)
        ladder = np.asarray(state.ladder_kbps, dtype=float)
        kbps = self.forecast(state)
        if kbps <= 0:
            return 0
        horizon = max(1, min(self.horizon, state.segments_left))
        plans = _sequences(len(ladder), horizon)
        bits = ladder[plans] * 1000 * state.segment_s  # (plans, horizon)
        if state.next_sizes_bits is not None:
            sizes = np.asarray(state.next_sizes_bits, dtype=float)[:horizon]
            if sizes.shape == (horizon, len(ladder)):
                bits = sizes[np.arange(horizon)[None, :], plans]
        recent = list(state.latencies_s)[-self.window :]
        latency = float(np.mean(recent)) if recent else 0.0
        download = bits / (kbps * 1000) + latency
        buffer = np.full(len(plans), state.buffer_s)
        rebuffer = np.zeros(len(plans))
        for step in range(horizon):
            stall = np.maximum(download[:, step] - buffer, 0.0)
            rebuffer += stall
            buffer = np.maximum(buffer - download[:, step], 0.0) + state.segment_s
        if self.codec is None:
            utility = ladder / 1000  # Mbps: the QoE_lin unit
        else:
            from backbeat.streaming._simulate import audio_quality

            utility = np.array([audio_quality(b, self.codec) for b in ladder])
        rates = utility[plans]
        previous = np.concatenate(
            [np.full((len(plans), 1), utility[state.last_rung]), rates[:, :-1]], axis=1
        )
        # QoE_lin charges the size of a switch, the audio QoE each switch
        moves = np.abs(rates - previous) if self.codec is None else (rates != previous) * 1.0
        qoe = (
            rates.sum(axis=1)
            - self.rebuffer_penalty * rebuffer
            - self.switch_penalty * moves.sum(axis=1)
        )
        best = int(np.argmax(qoe))
        return int(plans[best, 0])


@dataclass
class Dynamic(AbrAlgorithm):
    """dash.js's DYNAMIC strategy: BOLA once the buffer is past ``switch_on_s``, back to the
    throughput rule below ``switch_off_s``."""

    switch_on_s: float = 10.0
    switch_off_s: float = 5.0
    bola: Bola = field(default_factory=Bola)
    throughput: ThroughputRule = field(default_factory=ThroughputRule)
    name = "dynamic"

    def choose(self, state: AbrState) -> int:
        using_bola = bool(state.memo.get("dynamic_bola", 0.0))
        if using_bola and state.buffer_s < self.switch_off_s:
            using_bola = False
        elif not using_bola and state.buffer_s >= self.switch_on_s:
            using_bola = True
        state.memo["dynamic_bola"] = 1.0 if using_bola else 0.0
        return (self.bola if using_bola else self.throughput).choose(state)


@lru_cache(maxsize=16)
def _fast_table(
    ladder: tuple[float, ...],
    segment_s: float,
    latency_s: float,
    horizon: int,
    rebuffer_penalty: float,
    switch_penalty: float,
    buffers: tuple[float, ...],
    throughputs: tuple[float, ...],
) -> np.ndarray:
    """FastMPC's table (Yin et al. 2015, section 5): the first rung of the best plan for
    every (last rung, throughput bin, buffer bin), computed once per ladder."""
    rates_kbps = np.asarray(ladder)
    plans = _sequences(len(ladder), horizon)
    utility = rates_kbps / 1000
    u = utility[plans]  # (plans, horizon)
    inner = u.sum(axis=1) - switch_penalty * np.abs(np.diff(u, axis=1)).sum(axis=1)
    b0 = np.asarray(buffers)
    table = np.zeros((len(ladder), len(throughputs), len(buffers)), dtype=np.int8)
    for ti, kbps in enumerate(throughputs):
        download = rates_kbps[plans] * segment_s / kbps + latency_s  # (plans, horizon)
        buffer = np.broadcast_to(b0, (len(plans), len(b0))).copy()
        rebuffer = np.zeros_like(buffer)
        for step in range(horizon):
            d = download[:, step : step + 1]
            rebuffer += np.maximum(d - buffer, 0.0)
            buffer = np.maximum(buffer - d, 0.0) + segment_s
        base = inner[:, None] - rebuffer_penalty * rebuffer  # (plans, buffers)
        for last in range(len(ladder)):
            first = switch_penalty * np.abs(u[:, 0] - utility[last])
            table[last, ti] = plans[np.argmax(base - first[:, None], axis=0), 0]
    return table


@dataclass
class FastMpc(RobustMpc):
    """Robust MPC by table lookup (FastMPC): the same forecast and QoE as
    :class:`RobustMpc`, the optimisation done once per ladder over a grid of buffer levels
    (every ``buffer_step_s`` up to ``buffer_max_s``) and forecasts (``bins`` log-spaced
    from a tenth of the lowest rung to ten times the highest), so a decision is a lookup."""

    buffer_step_s: float = 0.5
    buffer_max_s: float = 60.0
    bins: int = 48
    latency_s: float = 0.08
    name = "fastmpc"

    def choose(self, state: AbrState) -> int:
        _check_ladder(state.ladder_kbps)
        kbps = self.forecast(state)
        if kbps <= 0:
            return 0
        if self.codec is not None or state.segments_left < self.horizon:
            return super().choose(state)  # the table is for QoE_lin over a full horizon
        ladder = tuple(state.ladder_kbps)
        key = (ladder, state.segment_s)
        if key != getattr(self, "_key", None):  # the grid and table of this ladder
            low, high = ladder[0] / 10, ladder[-1] * 10
            throughputs = tuple(float(x) for x in np.geomspace(low, high, self.bins))
            buffers = tuple(
                float(x) for x in np.arange(0.0, self.buffer_max_s + 1e-9, self.buffer_step_s)
            )
            self._table = _fast_table(
                tuple(float(b) for b in ladder),
                float(state.segment_s),
                self.latency_s,
                self.horizon,
                self.rebuffer_penalty,
                self.switch_penalty,
                buffers,
                throughputs,
            ).tolist()
            self._log_low = math.log(low)
            self._log_span = math.log(high / low) / (self.bins - 1)
            self._buffers = len(buffers)
            self._key = key
        ti = round((math.log(kbps) - self._log_low) / self._log_span)
        bi = round(state.buffer_s / self.buffer_step_s)
        ti = min(max(ti, 0), self.bins - 1)
        bi = min(max(bi, 0), self._buffers - 1)
        return int(self._table[state.last_rung][ti][bi])


#: The algorithms by name, as ``backbeat stream simulate --abr`` takes them.
ALGORITHMS: dict[str, type[AbrAlgorithm]] = {
    "throughput": ThroughputRule,
    "buffer": BufferBased,
    "bola": Bola,
    "mpc": RobustMpc,
    "fastmpc": FastMpc,
    "dynamic": Dynamic,
}
