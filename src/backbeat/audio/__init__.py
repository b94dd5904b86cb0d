"""Audio analysis (extra ``audio``): Spotify's audio features and audio analysis, computed here.

``analyze(source)`` gives the audio-features object, ``analyze_structure(source)``
the audio-analysis object; both decode once and share one front end (see
``ARCHITECTURE.md`` and each module's docstring for formulas and references).
"""

from backbeat.audio._analyze import MIN_DURATION_S, analyze, analyze_all, analyze_structure
from backbeat.audio._batch import AUDIO_SUFFIXES, done_files, find_audio, format_rows, key_name
from backbeat.audio._batch import run as analyze_files
from backbeat.audio._batch import run_distributed as analyze_files_on_cluster
from backbeat.audio._decode import (
    ANALYSIS_RATE,
    AudioDecodeError,
    AudioStream,
    AudioTooShortError,
    decode,
    open_audio,
)
from backbeat.audio._loudness import LoudnessMeter
from backbeat.audio._models import (
    SPOTIFY_FIELDS,
    VECTOR_FIELDS,
    AudioAnalysis,
    AudioFeatures,
    LowLevelFeatures,
    Section,
    Segment,
    TimeInterval,
    TrackSummary,
    spotify_audio_features,
)
from backbeat.audio._plot import plot_analysis
from backbeat.audio._seed import AudioProcessor
from backbeat.audio._waveform import waveform

__all__ = [
    "ANALYSIS_RATE",
    "AUDIO_SUFFIXES",
    "MIN_DURATION_S",
    "SPOTIFY_FIELDS",
    "VECTOR_FIELDS",
    "AudioAnalysis",
    "AudioDecodeError",
    "AudioFeatures",
    "AudioProcessor",
    "AudioStream",
    "AudioTooShortError",
    "LoudnessMeter",
    "LowLevelFeatures",
    "Section",
    "Segment",
    "TimeInterval",
    "TrackSummary",
    "analyze",
    "analyze_all",
    "analyze_files",
    "analyze_files_on_cluster",
    "analyze_structure",
    "decode",
    "done_files",
    "find_audio",
    "format_rows",
    "key_name",
    "open_audio",
    "plot_analysis",
    "spotify_audio_features",
    "waveform",
]
