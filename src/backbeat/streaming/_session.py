"""Server-side adaptive streaming sessions: the seed's ``stream_processor``.

``await sp.configure_adaptive_quality(target_latency_ms=50, bandwidth_estimation=True)``
opens a session: an Opus ladder, an ABR algorithm chosen for the latency target (below a
second of buffer there is no buffer to reason about: the throughput rule; above, dash.js's
dynamic BOLA/throughput switch) and one encoder per rendition, kept across chunks so each
rendition stays one continuous Opus stream.

``await sp.process_chunk(chunk, quality="adaptive")`` takes PCM (a float32 numpy array,
``(samples,)`` or ``(samples, channels)``, at ``sample_rate``), decides the rendition from
what the session knows (throughputs reported with ``throughput_kbps=`` or
:meth:`StreamSession.report`, the client's buffer with ``buffer_s=``) and returns that
rendition's Opus packets for the chunk, with the decision. ``quality`` may also name a
rendition (``"opus_96"``) or a bitrate (``96``) to pin it. ``ml_enhancement`` is accepted
for the seed's calls and does nothing: backbeat applies no ML enhancement to audio.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from backbeat.streaming._abr import AbrAlgorithm, AbrState, Dynamic, ThroughputRule
from backbeat.streaming._errors import streaming_error
from backbeat.streaming._package import Rendition, parse_ladder

__all__ = ["ChunkResult", "StreamProcessor", "StreamSession"]

RATE = 48000


@dataclass
class ChunkResult:
    rendition: str
    kbps: int
    packets: list[bytes]
    duration_s: float
    processing_ms: float
    switched: bool

    @property
    def data(self) -> bytes:
        return b"".join(self.packets)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rendition": self.rendition,
            "kbps": self.kbps,
            "bytes": sum(len(p) for p in self.packets),
            "packets": len(self.packets),
            "duration_s": round(self.duration_s, 6),
            "processing_ms": round(self.processing_ms, 3),
            "switched": self.switched,
        }


@dataclass
class StreamSession:
    ladder: list[Rendition]
    algorithm: AbrAlgorithm
    target_latency_ms: float
    bandwidth_estimation: bool
    state: AbrState
    encoders: dict[str, Any] = field(default_factory=dict)
    chunks: int = 0

    def report(self, bytes_sent: int, seconds: float, latency_s: float = 0.0) -> None:
        """What the transport measured for the last chunk (feeds bandwidth estimation)."""
        if seconds <= 0 or bytes_sent < 0:
            raise streaming_error(
                "streaming.report_invalid",
                "A transfer report needs bytes >= 0 and seconds > 0.",
            )
        if self.bandwidth_estimation:
            throughputs = [*self.state.throughputs_kbps, bytes_sent * 8 / seconds / 1000][-20:]
            self.state.throughputs_kbps = throughputs
            self.state.latencies_s = [*self.state.latencies_s, latency_s][-20:]


class StreamProcessor:
    """Opens sessions; the last one opened is the default for :meth:`process_chunk`.

    Also the seed's ``qos_manager``: :meth:`track_metrics` records a playback sample
    (latency, bitrate, perceived quality) into the service's QoS series through ``qos``
    (the system monitor's ``track_metrics`` when built by the Toolkit)."""

    def __init__(self, ladder: str = "opus:32,64,96,160", *, qos: Any = None) -> None:
        self.qos = qos
        self.ladder = [r for r in parse_ladder(ladder) if r.codec == "opus"]
        if not self.ladder:
            raise streaming_error(
                "streaming.ladder_invalid",
                "Real-time sessions stream Opus: the ladder {ladder!r} has no Opus rendition.",
                ladder=ladder,
            )
        self.session: StreamSession | None = None

    async def track_metrics(
        self, latency_ms: float, bitrate: float, quality_score: float | None = None
    ) -> None:
        """One playback sample from server-side code (latency ms, bitrate kbit/s, quality
        0-1), recorded with the players' telemetry series."""
        if self.qos is None:
            raise streaming_error(
                "streaming.qos_unavailable",
                "No QoS recorder: build the stream processor from a Toolkit (tk.streaming).",
            )
        await self.qos(latency_ms=latency_ms, bitrate=bitrate, quality_score=quality_score)

    async def configure_adaptive_quality(
        self,
        target_latency_ms: float = 50.0,
        bandwidth_estimation: bool = True,
        *,
        algorithm: AbrAlgorithm | None = None,
    ) -> StreamSession:
        if not 1 <= target_latency_ms <= 120_000:
            raise streaming_error(
                "streaming.latency_invalid",
                "target_latency_ms must be 1 to 120000; got {value}.",
                value=target_latency_ms,
            )
        chosen = algorithm or (ThroughputRule() if target_latency_ms < 1000 else Dynamic())
        kbps = [float(r.kbps) for r in self.ladder]
        self.session = StreamSession(
            ladder=self.ladder,
            algorithm=chosen,
            target_latency_ms=target_latency_ms,
            bandwidth_estimation=bandwidth_estimation,
            state=AbrState(ladder_kbps=kbps, segment_s=0.02, buffer_s=0.0),
        )
        return self.session

    def _encoder(self, session: StreamSession, rendition: Rendition, channels: int) -> Any:
        import av

        encoder = session.encoders.get(rendition.name)
        if encoder is None:
            encoder = av.CodecContext.create("libopus", "w")
            encoder.sample_rate = RATE
            encoder.layout = "stereo" if channels >= 2 else "mono"
            encoder.format = "flt"
            encoder.bit_rate = rendition.kbps * 1000
            encoder.options = {"vbr": "constrained"}
            encoder.open()
            session.encoders[rendition.name] = encoder
        return encoder

    def _pick(self, session: StreamSession, quality: str | int) -> Rendition:
        if quality == "adaptive":
            return session.ladder[session.algorithm.choose(session.state)]
        for r in session.ladder:
            if quality in (r.name, r.kbps, str(r.kbps)):
                return r
        raise streaming_error(
            "streaming.quality_invalid",
            "quality {value!r} is not adaptive nor a rendition of the ladder ({ladder}).",
            value=str(quality)[:40],
            ladder=", ".join(r.name for r in session.ladder),
        )

    async def process_chunk(
        self,
        chunk: Any,
        quality: str | int = "adaptive",
        ml_enhancement: bool = False,
        *,
        sample_rate: int = RATE,
        throughput_kbps: float | None = None,
        buffer_s: float | None = None,
        session: StreamSession | None = None,
    ) -> ChunkResult:
        """Encode ``chunk`` at the rendition the session decides (see the module's text)."""
        import av

        session = session or self.session or await self.configure_adaptive_quality()
        samples = np.asarray(chunk, dtype=np.float32)
        if samples.ndim == 1:
            samples = samples[:, None]
        if samples.ndim != 2 or samples.shape[1] not in (1, 2) or not len(samples):
            raise streaming_error(
                "streaming.chunk_invalid",
                "A chunk is float PCM, (samples,) or (samples, 1|2); got shape {shape}.",
                shape=str(tuple(np.shape(chunk))),
            )
        if not np.all(np.isfinite(samples)):
            raise streaming_error("streaming.chunk_invalid", "A chunk holds NaN or infinity.")
        started = time.perf_counter()
        if throughput_kbps is not None and session.bandwidth_estimation:
            session.state.throughputs_kbps = [*session.state.throughputs_kbps, throughput_kbps][
                -20:
            ]
        duration = len(samples) / sample_rate
        session.state.segment_s = duration
        if buffer_s is not None:
            session.state.buffer_s = max(0.0, buffer_s)
        else:  # a real-time client holds about the latency target
            session.state.buffer_s = session.target_latency_ms / 1000
        rendition = self._pick(session, quality)
        switched = (
            session.chunks > 0 and rendition.kbps != session.ladder[session.state.last_rung].kbps
        )
        channels = samples.shape[1]
        encoder = self._encoder(session, rendition, channels)
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(samples).reshape(1, -1),
            format="flt",
            layout="stereo" if channels == 2 else "mono",
        )
        frame.sample_rate = sample_rate
        resampler = av.AudioResampler(format="flt", layout=encoder.layout.name, rate=RATE)
        packets: list[bytes] = []
        for resampled in resampler.resample(frame):
            packets.extend(bytes(p) for p in encoder.encode(resampled))
        session.state.last_rung = session.ladder.index(rendition)
        session.chunks += 1
        return ChunkResult(
            rendition=rendition.name,
            kbps=rendition.kbps,
            packets=packets,
            duration_s=duration,
            processing_ms=(time.perf_counter() - started) * 1000,
            switched=switched,
        )
