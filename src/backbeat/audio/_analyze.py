"""``analyze`` and ``analyze_structure``: decode once, run the front end once, read it all."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from backbeat._version import __version__
from backbeat.audio._decode import (
    ANALYSIS_RATE,
    AudioSource,
    AudioTooShortError,
    open_audio,
    resampled_mono,
)
from backbeat.audio._descriptors import DESCRIPTORS, calibrated, raw_features
from backbeat.audio._frontend import REFERENCE_LUFS, Frames, FrontEnd
from backbeat.audio._loudness import SILENCE_LUFS, LoudnessMeter, gated_loudness
from backbeat.audio._models import (
    AudioAnalysis,
    AudioFeatures,
    LowLevelFeatures,
    Section,
    Segment,
    TimeInterval,
    TrackSummary,
)
from backbeat.audio._rhythm import SOFT_SHARPNESS, Rhythm, analyse_rhythm
from backbeat.audio._structure import beat_sync, fades, novelty_boundaries, segment_table
from backbeat.audio._tonal import (
    Harmony,
    Key,
    chord_root,
    estimate_key,
    harmonic_key,
    harmony_evidence,
    settle_on_final_chord,
    summed_chroma,
)

__all__ = ["MIN_DURATION_S", "analyze", "analyze_all", "analyze_structure"]

F32 = npt.NDArray[np.float32]
MIN_DURATION_S = 1.0
"""Shorter audio raises :class:`AudioTooShortError`: no tempo or key means anything below it."""
SILENT_RMS = 1e-4  # about -80 dBFS
FINAL_CHORD_S = 2.0  # the final chord: the chroma of the last two audible seconds
BAR_BEATS = 4  # the first and last chords of loop-based music: its first and last four beats


@dataclass
class _State:
    frames: Frames
    loudness: float
    loudness_range: float
    gating_blocks: npt.NDArray[np.float64]
    rhythm: Rhythm
    key: Key
    silent: bool
    elapsed: float


def _front_end(source: AudioSource, sample_rate: int) -> tuple[Frames, LoudnessMeter]:
    with open_audio(source) as stream:
        meter = LoudnessMeter(stream.sample_rate, stream.channels)
        front = FrontEnd(sample_rate)

        def metered() -> Iterator[F32]:
            for block in stream.blocks():
                meter.feed(block)
                yield block

        for mono in resampled_mono(metered(), stream.sample_rate, sample_rate):
            front.feed(mono)
        frames = front.finish(power_gain=_power_gain(meter.integrated()))
    if frames.duration < MIN_DURATION_S:
        raise AudioTooShortError(
            details={"seconds": round(frames.duration, 3), "minimum": MIN_DURATION_S},
            message="The audio lasts {seconds} s; analysis needs at least {minimum} s.",
        )
    return frames, meter


def _power_gain(loudness: float) -> float:
    """The power factor that brings a track to :data:`REFERENCE_LUFS` (within 40 dB;
    1 for silence): what the analysis reads is then the same at any playback gain."""
    if loudness <= SILENCE_LUFS:
        return 1.0
    return float(10 ** (min(40.0, max(-40.0, REFERENCE_LUFS - loudness)) / 10))


def _key_of(
    frames: Frames, start: int = 0, stop: int | None = None, *, rhythm: Rhythm | None = None
) -> Key:
    """Key of chroma frames ``start:stop``; the last tenth of the audible part counts 4x.

    For the whole track (``rhythm`` given), percussive music (loops, grooves: onsets as
    sharp as :data:`SOFT_SHARPNESS` or more) takes its tonic from its chords among the
    keys that share its pitch set (``harmonic_key``): its first and last bars, and which
    tonic triad sounds longest. Soft music (chorales, organ, strings) closes on its tonic
    by a cadence: the root of its final chord settles a near tie between a key and its
    dominant or relative (``settle_on_final_chord``). See ``_tonal``.
    """
    inputs = key_inputs(frames, start, stop, rhythm=rhythm)
    if inputs is None:
        return Key(-1, 0, 0.0, 0.0)
    if inputs.harmony is not None and inputs.percussive:
        return harmonic_key(inputs.chroma_sum, inputs.harmony)
    key = estimate_key(inputs.chroma_sum)
    return key if rhythm is None else settle_on_final_chord(key, inputs.final_root)


@dataclass(frozen=True, slots=True)
class KeyInputs:
    chroma_sum: npt.NDArray[np.float64]  # the last tenth of the audible part 4x
    final_root: int  # root of the final chord (last FINAL_CHORD_S audible seconds), -1
    percussive: bool
    harmony: Harmony | None  # the chords between the beats (percussive music only)


def key_inputs(
    frames: Frames, start: int = 0, stop: int | None = None, *, rhythm: Rhythm | None = None
) -> KeyInputs | None:
    """What :func:`_key_of` decides from; None without chroma frames."""
    chroma = frames.chroma[start:stop].astype(np.float64)
    if len(chroma) == 0:
        return None
    step = frames.pitch_hop // frames.hop
    level = frames.rms[::step][start:stop][: len(chroma)]
    weights = np.ones(len(chroma))
    audible = np.flatnonzero(level > 0.05 * float(level.max(initial=0.0)))
    begin = int(audible[0]) if len(audible) else 0
    end = int(audible[-1]) + 1 if len(audible) else 0
    weights[int(end * 0.9) : end] += 3.0
    chroma_sum = summed_chroma(chroma, weights)
    if rhythm is None or not end:
        return KeyInputs(chroma_sum, -1, False, None)
    tail = max(0, end - int(FINAL_CHORD_S * frames.sample_rate / frames.pitch_hop))
    final_root = chord_root(chroma[tail:end].mean(axis=0))
    percussive = rhythm.sharpness >= SOFT_SHARPNESS
    if not percussive:  # soft music: the final chord decides, no chords gathered
        return KeyInputs(chroma_sum, final_root, percussive, None)
    edges = np.round(rhythm.beats * frames.hop / frames.pitch_hop).astype(np.int64)
    edges = edges[(edges >= begin) & (edges <= end)]
    if len(edges) < 2 * BAR_BEATS:  # no beat grid: half-second pieces
        piece = max(1, int(0.5 * frames.sample_rate / frames.pitch_hop))
        edges = np.arange(begin, end + 1, piece, dtype=np.int64)
    if len(edges) < BAR_BEATS + 2:
        return KeyInputs(chroma_sum, final_root, percussive, None)
    # The first and the final chord of loop-based music: its first and last bar.
    harmony = harmony_evidence(chroma, frames.bass_chroma[start:stop], edges, BAR_BEATS)
    return KeyInputs(chroma_sum, final_root, percussive, harmony)


def _run(source: AudioSource, sample_rate: int) -> _State:
    started = time.perf_counter()
    frames, meter = _front_end(source, sample_rate)
    loudness = meter.integrated()
    silent = loudness <= SILENCE_LUFS or float(frames.rms.max(initial=0.0)) < SILENT_RMS
    rhythm = analyse_rhythm(frames)
    key = _key_of(frames, rhythm=rhythm)
    if silent:
        rhythm.tempo, rhythm.tempo_confidence = 0.0, 0.0
        rhythm.beats = rhythm.beats[:0]
        rhythm.time_signature, rhythm.time_signature_confidence = 4, 0.0
        key = Key(-1, 0, 0.0, 0.0)
    return _State(
        frames=frames,
        loudness=loudness,
        loudness_range=meter.loudness_range(),
        gating_blocks=meter.gating_blocks(),
        rhythm=rhythm,
        key=key,
        silent=silent,
        elapsed=time.perf_counter() - started,
    )


def _features(state: _State) -> AudioFeatures:
    frames, rhythm, key = state.frames, state.rhythm, state.key
    raw = raw_features(frames, rhythm, key, state.loudness, state.loudness_range)
    values = dict.fromkeys(DESCRIPTORS, 0.0) if state.silent else calibrated(raw)
    lowlevel = LowLevelFeatures(
        frame_rate=frames.frame_rate,
        chroma_frame_rate=frames.sample_rate / frames.pitch_hop,
        mfcc=frames.mfcc,
        chroma=frames.chroma,
        centroid=frames.centroid,
        bandwidth=frames.bandwidth,
        rolloff=frames.rolloff,
        flatness=frames.flatness,
        zcr=frames.zcr,
        rms=frames.rms,
        onset=rhythm.onset,
        onset_rate=raw["onset_rate"],
        tempo=rhythm.tempo,
        pulse_clarity=rhythm.tempo_confidence,
        dfa=raw["dfa"],
        key=key.key,
    )
    return AudioFeatures(
        danceability=values["danceability"],
        energy=values["energy"],
        key=key.key,
        loudness=round(state.loudness, 3),
        mode=key.mode,
        speechiness=values["speechiness"],
        acousticness=values["acousticness"],
        instrumentalness=values["instrumentalness"],
        liveness=values["liveness"],
        valence=values["valence"],
        tempo=round(rhythm.tempo, 3),
        time_signature=rhythm.time_signature,
        duration_ms=round(frames.duration * 1000),
        key_confidence=round(key.key_confidence, 3),
        mode_confidence=round(key.mode_confidence, 3),
        tempo_confidence=round(rhythm.tempo_confidence, 3),
        time_signature_confidence=round(rhythm.time_signature_confidence, 3),
        lowlevel=lowlevel,
    )


def _intervals(
    times: npt.NDArray[np.float64], end: float, confidence: F32 | None
) -> list[TimeInterval]:
    out = []
    for i, start in enumerate(times):
        stop = (
            times[i + 1]
            if i + 1 < len(times)
            else min(end, start + (start - times[i - 1] if i else 0))
        )
        conf = float(confidence[i]) if confidence is not None and i < len(confidence) else 0.0
        out.append(
            TimeInterval(round(float(start), 5), round(float(stop - start), 5), round(conf, 3))
        )
    return out


def _tatum_confidence(state: _State, times: list[float]) -> F32 | None:
    """Onset strength at each tatum (the envelope's peak within two frames), over the
    strongest: on-beat tatums of a clear groove near 1, empty subdivisions near 0."""
    onset = state.rhythm.onset
    if not times or len(onset) == 0:
        return None
    rate = state.frames.frame_rate
    index = np.clip(np.round(np.asarray(times) * rate).astype(np.int64), 0, len(onset) - 1)
    strength = np.array([onset[max(0, i - 2) : i + 3].max() for i in index])
    top = float(strength.max())
    return (strength / top).astype(np.float32) if top > 0 else None


def _analysis(state: _State) -> AudioAnalysis:
    frames, rhythm, key = state.frames, state.rhythm, state.key
    rate = frames.frame_rate
    beats_t = rhythm.beat_times if len(rhythm.beat_times) else rhythm.beats / rate
    strength = rhythm.beat_strength
    beat_conf = (strength / strength.max()).astype(np.float32) if len(strength) else None
    beats = _intervals(beats_t, frames.duration, beat_conf)
    meter = rhythm.time_signature
    downbeats = beats_t[rhythm.downbeat_phase :: meter] if len(beats_t) else beats_t
    bar_conf = beat_conf[rhythm.downbeat_phase :: meter] if beat_conf is not None else None
    bars = _intervals(downbeats, frames.duration, bar_conf)
    tatum_times = []
    for i in range(len(beats_t)):
        step = (beats_t[i + 1] - beats_t[i]) if i + 1 < len(beats_t) else None
        for j in range(rhythm.tatums_per_beat):
            if j == 0 or step is not None:
                tatum_times.append(beats_t[i] + (step or 0.0) * j / rhythm.tatums_per_beat)
    tatums = _intervals(
        np.asarray(tatum_times), frames.duration, _tatum_confidence(state, tatum_times)
    )
    sections = _sections(state, beats_t)
    table = segment_table(frames, rhythm.onset)
    segments = [
        Segment(
            start=round(float(table.start[i]), 5),
            duration=round(float(table.duration[i]), 5),
            confidence=round(float(table.confidence[i]), 3),
            loudness_start=round(float(table.loudness_start[i]), 3),
            loudness_max=round(float(table.loudness_max[i]), 3),
            loudness_max_time=round(float(table.loudness_max_time[i]), 5),
            loudness_end=round(float(table.loudness_end[i]), 3),
            pitches=[round(float(v), 3) for v in table.pitches[i]],
            timbre=[round(float(v), 3) for v in table.timbre[i]],
        )
        for i in range(len(table.start))
    ]
    fade_in, fade_out = fades(frames)
    track = TrackSummary(
        num_samples=frames.num_samples,
        duration=round(frames.duration, 5),
        analysis_sample_rate=frames.sample_rate,
        analysis_channels=1,
        end_of_fade_in=round(fade_in, 5),
        start_of_fade_out=round(fade_out, 5),
        loudness=round(state.loudness, 3),
        tempo=round(rhythm.tempo, 3),
        tempo_confidence=round(rhythm.tempo_confidence, 3),
        time_signature=meter,
        time_signature_confidence=round(rhythm.time_signature_confidence, 3),
        key=key.key,
        key_confidence=round(key.key_confidence, 3),
        mode=key.mode,
        mode_confidence=round(key.mode_confidence, 3),
    )
    meta = {
        "analyzer_version": f"backbeat {__version__}",
        "platform": "backbeat",
        "detailed_status": "OK",
        "status_code": 0,
        "timestamp": int(time.time()),
        "analysis_time": round(state.elapsed, 5),
        "input_process": f"mono {frames.sample_rate} Hz",
    }
    return AudioAnalysis(track, bars, beats, tatums, sections, segments, meta)


def _sections(state: _State, beats_t: npt.NDArray[np.float64]) -> list[Section]:
    frames, rhythm = state.frames, state.rhythm
    starts = [0.0]
    confidences = [1.0]
    if len(rhythm.beats) > 8:
        peaks, novelty = novelty_boundaries(beat_sync(frames, rhythm.beats), beats_t)
        starts += [float(beats_t[p]) for p in peaks]
        confidences += [float(v) for v in novelty]
    bounds = [*starts, frames.duration]
    sections = []
    for i in range(len(starts)):
        a, b = bounds[i], bounds[i + 1]
        block_a, block_b = int(a * 10), max(int(b * 10), int(a * 10) + 1)
        level = gated_loudness(state.gating_blocks[block_a : max(block_b - 3, block_a + 1)])
        inside = beats_t[(beats_t >= a) & (beats_t < b)]
        tempo = 60.0 / float(np.median(np.diff(inside))) if len(inside) > 2 else 0.0
        pitch_rate = frames.sample_rate / frames.pitch_hop
        key = _key_of(frames, int(a * pitch_rate), int(b * pitch_rate) + 1)
        if state.silent:
            key = Key(-1, 0, 0.0, 0.0)
        sections.append(
            Section(
                start=round(a, 5),
                duration=round(b - a, 5),
                confidence=round(confidences[i], 3),
                loudness=round(level, 3),
                tempo=round(tempo, 3),
                tempo_confidence=round(rhythm.tempo_confidence, 3) if tempo else 0.0,
                key=key.key,
                key_confidence=round(key.key_confidence, 3),
                mode=key.mode,
                mode_confidence=round(key.mode_confidence, 3),
                time_signature=rhythm.time_signature,
                time_signature_confidence=round(rhythm.time_signature_confidence, 3),
            )
        )
    return sections


def analyze(source: AudioSource, *, sample_rate: int = ANALYSIS_RATE) -> AudioFeatures:
    """Spotify's audio features for ``source`` (a path, bytes or a binary file).

    Raises :class:`AudioDecodeError` for what cannot be decoded and
    :class:`AudioTooShortError` below :data:`MIN_DURATION_S`. Digital silence
    gives ``key=-1``, ``tempo=0.0``, ``time_signature=4`` with zero confidences,
    ``loudness=-100.0`` and 0 for every [0, 1] descriptor.
    """
    return _features(_run(source, sample_rate))


def analyze_structure(source: AudioSource, *, sample_rate: int = ANALYSIS_RATE) -> AudioAnalysis:
    """Spotify's audio analysis (track, bars, beats, tatums, sections, segments)."""
    return _analysis(_run(source, sample_rate))


def analyze_all(
    source: AudioSource, *, sample_rate: int = ANALYSIS_RATE
) -> tuple[AudioFeatures, AudioAnalysis]:
    """Both results from one decode and one front-end pass."""
    state = _run(source, sample_rate)
    return _features(state), _analysis(state)
