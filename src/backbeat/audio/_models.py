"""Result types: Spotify's audio-features and audio-analysis objects, and low-level arrays."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from backbeat.spotify import AUDIO_FEATURES

__all__ = [
    "CONFIDENCE_FIELDS",
    "SPOTIFY_FIELDS",
    "VECTOR_FIELDS",
    "AudioAnalysis",
    "AudioFeatures",
    "LowLevelFeatures",
    "Section",
    "Segment",
    "TimeInterval",
    "TrackSummary",
    "spotify_audio_features",
]

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]

SPOTIFY_FIELDS = AUDIO_FEATURES
SPOTIFY_API = "https://api.spotify.com"
CONFIDENCE_FIELDS = (
    "key_confidence",
    "mode_confidence",
    "tempo_confidence",
    "time_signature_confidence",
)


def spotify_audio_features(
    track_id: str, fields: dict[str, Any], base_url: str = SPOTIFY_API
) -> dict[str, Any]:
    """Spotify's audio-features object from stored ``fields`` (extra keys are dropped)."""
    body: dict[str, Any] = {k: fields[k] for k in SPOTIFY_FIELDS}
    body.update(
        id=track_id,
        type="audio_features",
        uri=f"spotify:track:{track_id}",
        track_href=f"{base_url}/v1/tracks/{track_id}",
        analysis_url=f"{base_url}/v1/audio-analysis/{track_id}",
    )
    return body


_SERIES = ("centroid", "bandwidth", "rolloff", "flatness", "zcr", "rms", "onset")
VECTOR_FIELDS: tuple[str, ...] = (
    *(f"mfcc{i}_mean" for i in range(13)),
    *(f"mfcc{i}_std" for i in range(13)),
    *(f"chroma{i}_rel_key" for i in range(12)),
    "centroid_mean_khz",
    "centroid_std_khz",
    "bandwidth_mean_khz",
    "bandwidth_std_khz",
    "rolloff_mean_khz",
    "rolloff_std_khz",
    "flatness_log_mean",
    "flatness_log_std",
    "zcr_mean",
    "zcr_std",
    "rms_db_mean_div60",
    "rms_db_std_div20",
    "onset_rate_div10",
    "tempo_div200",
    "pulse_clarity",
    "dfa",
)
"""What each position of :meth:`LowLevelFeatures.vector` holds."""


@dataclass
class LowLevelFeatures:
    """Frame-level features for ML (main STFT frames; chroma on the pitch STFT's frames)."""

    frame_rate: float
    chroma_frame_rate: float
    mfcc: F32  # (frames, 13)
    chroma: F32  # (chroma frames, 12), C..B
    centroid: F32  # Hz
    bandwidth: F32  # Hz
    rolloff: F32  # Hz, 85 % of the power
    flatness: F32  # Wiener entropy, 0..1
    zcr: F32  # crossings per sample
    rms: F32
    onset: F64  # onset strength envelope
    onset_rate: float  # onsets per second
    tempo: float
    pulse_clarity: float
    dfa: float
    key: int

    def summary(self) -> dict[str, dict[str, float]]:
        """``{feature: {"mean", "std", "min", "max"}}`` over frames, MFCC/chroma per coefficient."""
        out: dict[str, dict[str, float]] = {}
        for name in _SERIES:
            values = np.asarray(getattr(self, name), dtype=np.float64)
            out[name] = _stats(values)
        for i in range(self.mfcc.shape[1]):
            out[f"mfcc{i}"] = _stats(self.mfcc[:, i].astype(np.float64))
        for i in range(12):
            out[f"chroma{i}"] = _stats(self.chroma[:, i].astype(np.float64))
        return out

    def vector(self) -> F32:
        """A fixed-length embedding (``len(VECTOR_FIELDS)`` floats) for similarity search.

        Chroma is rotated so that the detected key's tonic comes first, so two songs
        that differ only by transposition are close.
        """
        mfcc = self.mfcc.astype(np.float64)
        chroma = self.chroma.astype(np.float64).mean(axis=0) if len(self.chroma) else np.zeros(12)
        chroma = chroma / (chroma.sum() + 1e-12)
        if self.key >= 0:
            chroma = np.roll(chroma, -self.key)
        level = 20 * np.log10(np.maximum(self.rms.astype(np.float64), 1e-5))
        flat = np.log10(self.flatness.astype(np.float64) + 1e-12)
        parts = [
            mfcc.mean(axis=0) / 10.0,
            mfcc.std(axis=0) / 10.0,
            chroma,
            [
                self.centroid.mean() / 1000,
                self.centroid.std() / 1000,
                self.bandwidth.mean() / 1000,
                self.bandwidth.std() / 1000,
                self.rolloff.mean() / 1000,
                self.rolloff.std() / 1000,
                flat.mean(),
                flat.std(),
                self.zcr.mean(),
                self.zcr.std(),
                level.mean() / 60,
                level.std() / 20,
                self.onset_rate / 10,
                self.tempo / 200,
                self.pulse_clarity,
                self.dfa,
            ],
        ]
        vector = np.concatenate([np.asarray(p, dtype=np.float64).ravel() for p in parts])
        return np.asarray(np.nan_to_num(vector), dtype=np.float32)


def _stats(values: F64) -> dict[str, float]:
    if len(values) == 0:
        return {"mean": 0.0, "std": 0.0, "min": 0.0, "max": 0.0}
    return {
        "mean": float(values.mean()),
        "std": float(values.std()),
        "min": float(values.min()),
        "max": float(values.max()),
    }


@dataclass
class AudioFeatures:
    """Spotify's audio-features object, computed locally (same names, ranges, meanings)."""

    danceability: float
    energy: float
    key: int
    loudness: float
    mode: int
    speechiness: float
    acousticness: float
    instrumentalness: float
    liveness: float
    valence: float
    tempo: float
    time_signature: int
    duration_ms: int
    key_confidence: float = 0.0
    mode_confidence: float = 0.0
    tempo_confidence: float = 0.0
    time_signature_confidence: float = 0.0
    lowlevel: LowLevelFeatures | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """Every field but the low-level arrays, JSON-safe."""
        data = {k: v for k, v in asdict(self).items() if k != "lowlevel"}
        return data

    def to_spotify(
        self, track_id: str, base_url: str = "https://api.spotify.com"
    ) -> dict[str, Any]:
        """The exact shape of Spotify's ``GET /v1/audio-features/{id}`` response."""
        return spotify_audio_features(track_id, self.to_dict(), base_url)

    def vector(self) -> F32:
        """The low-level embedding (see :data:`VECTOR_FIELDS`)."""
        if self.lowlevel is None:
            return np.zeros(len(VECTOR_FIELDS), dtype=np.float32)
        return self.lowlevel.vector()


@dataclass
class TimeInterval:
    start: float
    duration: float
    confidence: float


@dataclass
class Section(TimeInterval):
    loudness: float
    tempo: float
    tempo_confidence: float
    key: int
    key_confidence: float
    mode: int
    mode_confidence: float
    time_signature: int
    time_signature_confidence: float


@dataclass
class Segment(TimeInterval):
    loudness_start: float
    loudness_max: float
    loudness_max_time: float
    loudness_end: float
    pitches: list[float]
    timbre: list[float]


@dataclass
class TrackSummary:
    num_samples: int
    duration: float
    analysis_sample_rate: int
    analysis_channels: int
    end_of_fade_in: float
    start_of_fade_out: float
    loudness: float
    tempo: float
    tempo_confidence: float
    time_signature: int
    time_signature_confidence: float
    key: int
    key_confidence: float
    mode: int
    mode_confidence: float


@dataclass
class AudioAnalysis:
    """Spotify's audio-analysis object: track summary, bars, beats, tatums, sections, segments."""

    track: TrackSummary
    bars: list[TimeInterval]
    beats: list[TimeInterval]
    tatums: list[TimeInterval]
    sections: list[Section]
    segments: list[Segment]
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of Spotify's ``GET /v1/audio-analysis/{id}``."""
        return asdict(self)
