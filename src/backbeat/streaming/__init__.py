"""Streaming (issue 20, first part): adaptive-bitrate decisions and their simulation.

- :class:`ThroughputRule`, :class:`BufferBased`, :class:`Bola`, :class:`RobustMpc`,
  :class:`Dynamic`: pure decisions over an :class:`AbrState`.
- :func:`load_traces`, :func:`simulate`: Pensieve's trace-driven test environment, scored
  by the linear QoE of MPC/Pensieve and by an audio QoE (:func:`audio_quality`).

- :func:`package`: a bitrate ladder (Opus, AAC-LC) as HLS with fMP4 segments, playback
  gain from the measured loudness; ``backbeat stream package``.

- :class:`StreamProcessor` (``tk.streaming``, the seed's ``stream_processor``): server-side
  sessions, ``configure_adaptive_quality`` and ``process_chunk``.
"""

from __future__ import annotations

from backbeat.streaming._abr import (
    ALGORITHMS,
    AbrAlgorithm,
    AbrState,
    Bola,
    BufferBased,
    Dynamic,
    FastMpc,
    RobustMpc,
    ThroughputRule,
    harmonic_mean,
)
from backbeat.streaming._errors import StreamingError
from backbeat.streaming._package import (
    DEFAULT_LADDER,
    PackageResult,
    Rendition,
    package,
    parse_ladder,
)
from backbeat.streaming._session import ChunkResult, StreamProcessor, StreamSession
from backbeat.streaming._simulate import (
    AUDIO_TRANSPARENCY_KBPS,
    SessionResult,
    SimulationResult,
    Trace,
    audio_quality,
    load_traces,
    simulate,
)

__all__ = [
    "ALGORITHMS",
    "AUDIO_TRANSPARENCY_KBPS",
    "DEFAULT_LADDER",
    "AbrAlgorithm",
    "AbrState",
    "Bola",
    "BufferBased",
    "ChunkResult",
    "Dynamic",
    "FastMpc",
    "PackageResult",
    "Rendition",
    "RobustMpc",
    "SessionResult",
    "SimulationResult",
    "StreamProcessor",
    "StreamSession",
    "StreamingError",
    "ThroughputRule",
    "Trace",
    "audio_quality",
    "harmonic_mean",
    "load_traces",
    "package",
    "parse_ladder",
    "simulate",
]
