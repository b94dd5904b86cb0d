"""Onsets, tempo, beats, meter and tatums from the front end's mel spectrogram.

- **Onset envelope**: log-mel spectral flux with a maximum filter across
  neighbouring bands before differencing (Böck & Widmer 2013, "SuperFlux"), which
  keeps vibrato and slow pitch glides from reading as onsets while note changes
  on bowed strings, choir and organ still do. A bass-band envelope (< 200 Hz)
  is kept apart for the meter.
- **Tempo**: autocorrelation of the envelope in 12 s windows, averaged, scored by
  a harmonic comb (the lag and its multiples up to 8, weighted 1/k, interpolated so
  that a 0.1 BPM grid is meaningful) and weighted by a broad log-normal prior over
  tempo (1.5 octaves wide around 110 BPM) that only breaks near-ties between
  octave-related peaks; the estimate is then refined by a least-squares fit of the
  tracked beat times. In the harness the 1/k comb with this prior scores ACC1 0.94
  on grooves and 0.85 on chorales, where an equal-weight 4-harmonic comb with the
  usual one-octave prior scored 0.88 and 0.82. A track with no periodicity gets
  tempo 0, not the prior's centre.
- **Beats**: dynamic programming (Ellis 2007) over the envelope: each beat
  maximises onset strength plus the best previous beat's score minus a
  log-interval penalty (tightness 100) around the tempo period.
- **Meter**: beat-synchronous accents (onset, bass onset, harmonic change from
  chroma) are compared for bar lengths of 3 and 4 beats at every phase; the
  length and phase with the largest contrast between the bar's first beat and
  the others give the time signature and the downbeats.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from backbeat.audio._frontend import Frames

__all__ = ["Rhythm", "analyse_rhythm", "onset_envelope"]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

MIN_BPM, MAX_BPM = 40.0, 240.0
PRIOR_CENTRE_BPM, PRIOR_OCTAVES = 110.0, 1.5
HARMONICS = 8
TIGHTNESS = 100.0
METERS = (3, 4)


@dataclass
class Rhythm:
    onset: F64  # envelope at the main frame rate
    bass_onset: F64
    tempo: float
    tempo_confidence: float
    beats: I64  # frame indices
    beat_strength: F64  # onset at each beat, normalised by the envelope's mean
    time_signature: int
    time_signature_confidence: float
    downbeat_phase: int
    tatums_per_beat: int


def onset_envelope(frames: Frames) -> tuple[F64, F64]:
    """SuperFlux onset envelope and the bass-band (< 200 Hz) envelope."""
    if len(frames) < 2:
        return np.zeros(len(frames)), np.zeros(len(frames))
    mel_db = 10.0 * np.log10(frames.mel.astype(np.float64) + 1e-10)
    mel_db = np.maximum(mel_db, mel_db.max() - 80.0)
    reference = ndimage.maximum_filter1d(mel_db, size=3, axis=1)
    rise = np.maximum(0.0, mel_db[1:] - reference[:-1])
    onset = np.concatenate([[0.0], rise.mean(axis=1)])
    bass_bands = max(1, int(np.searchsorted(_mel_centres(frames), 200.0)))
    bass = np.concatenate([[0.0], np.maximum(0.0, np.diff(mel_db[:, :bass_bands], axis=0)).mean(1)])
    return onset, bass


def _mel_centres(frames: Frames) -> F64:
    from backbeat.audio._frontend import N_FFT, mel_filterbank

    bank = mel_filterbank(frames.sample_rate, N_FFT)
    freqs = np.arange(bank.shape[0]) * frames.sample_rate / N_FFT
    return np.asarray(freqs[np.argmax(bank, axis=0)], dtype=np.float64)


def _windowed_acf(onset: F64, window: int) -> F64:
    """Mean autocorrelation of the (local-mean-removed) envelope over overlapping windows."""
    smooth = ndimage.uniform_filter1d(onset, size=43, mode="nearest")
    signal = onset - smooth
    window = min(window, len(signal))
    hop = max(1, window // 4)
    starts = range(0, max(1, len(signal) - window + 1), hop)
    size = 1 << math.ceil(math.log2(2 * window))
    total = np.zeros(window)
    used = 0
    for start in starts:
        chunk = signal[start : start + window]
        spectrum = np.fft.rfft(chunk * np.hanning(len(chunk)), size)
        acf = np.fft.irfft(np.abs(spectrum) ** 2, size)[:window]
        if acf[0] > 1e-12:
            total += acf / acf[0]
            used += 1
    return total / max(used, 1)


def _comb_scores(acf: F64, frame_rate: float, bpms: F64) -> F64:
    lags = 60.0 * frame_rate / bpms
    positions = np.arange(len(acf))
    score = np.zeros_like(bpms)
    for multiple in range(1, HARMONICS + 1):
        reach = lags * multiple
        valid = reach < len(acf) - 1
        score[valid] += np.interp(reach[valid], positions, acf) / multiple
    return score


def estimate_tempo(onset: F64, frame_rate: float) -> tuple[float, float]:
    """(tempo in BPM, confidence in [0, 1]); (0.0, 0.0) without periodicity."""
    if len(onset) < frame_rate * 3 or onset.std() < 1e-6:
        return 0.0, 0.0
    acf = _windowed_acf(onset, int(12 * frame_rate))
    bpms = np.arange(MIN_BPM, MAX_BPM + 0.05, 0.1)
    comb = _comb_scores(acf, frame_rate, bpms)
    if comb.max() <= 0.05:
        return 0.0, 0.0
    prior = np.exp(-0.5 * (np.log2(bpms / PRIOR_CENTRE_BPM) / PRIOR_OCTAVES) ** 2)
    weighted = np.maximum(comb, 0.0) * prior
    best = int(np.argmax(weighted))
    # Confidence: how far the comb peak stands above the comb's typical level.
    spread = float(np.percentile(comb, 95) - np.median(comb)) or 1e-9
    confidence = float(np.clip((comb[best] - np.median(comb)) / (2.0 * spread), 0.0, 1.0))
    return float(bpms[best]), confidence


def track_beats(onset: F64, frame_rate: float, tempo: float) -> I64:
    """Ellis's dynamic-programming beat tracker; frame indices of the beats."""
    if tempo <= 0 or len(onset) < 4:
        return np.zeros(0, dtype=np.int64)
    period = 60.0 * frame_rate / tempo
    norm = onset / (onset.std() + 1e-12)
    kernel = np.exp(-0.5 * (np.arange(-int(period), int(period) + 1) * 32.0 / period) ** 2)
    local = np.convolve(norm, kernel, mode="same")
    n = len(local)
    offsets = np.arange(-round(2 * period), -round(period / 2) + 1)
    penalty = -TIGHTNESS * np.log(-offsets / period) ** 2
    score = local.copy()
    back = np.full(n, -1, dtype=np.int64)
    first = -offsets[-1]
    for t in range(first, n):
        candidates = t + offsets
        valid = candidates >= 0
        values = score[candidates[valid]] + penalty[valid]
        pick = int(np.argmax(values))
        if values[pick] > 0:
            score[t] = local[t] + values[pick]
            back[t] = candidates[valid][pick]
    # The last beat: the best score among the final period's local maxima.
    tail_start = max(0, n - round(period))
    tail = score[tail_start:]
    last = tail_start + int(np.argmax(tail))
    beats = [last]
    while back[beats[-1]] >= 0:
        beats.append(int(back[beats[-1]]))
    result = np.array(beats[::-1], dtype=np.int64)
    return _trim_silent(result, onset)


def _trim_silent(beats: I64, onset: F64) -> I64:
    if len(beats) == 0:
        return beats
    strength = onset[beats]
    floor = 0.5 * np.sqrt(np.mean(strength**2))
    loud = np.flatnonzero(strength >= floor)
    if len(loud) == 0:
        return beats[:0]
    return beats[loud[0] : loud[-1] + 1]


def refine_tempo(beats: I64, frame_rate: float, tempo: float) -> float:
    """Least-squares beat period over the tracked beats (within 4 % of the estimate)."""
    if len(beats) < 8:
        return tempo
    index = np.arange(len(beats))
    slope = float(np.polyfit(index, beats.astype(np.float64), 1)[0])
    refined = 60.0 * frame_rate / slope if slope > 0 else tempo
    return refined if abs(refined - tempo) <= 0.04 * tempo else tempo


def _beat_features(frames: Frames, onset: F64, bass: F64, beats: I64) -> F64:
    """Per-beat accent, bass accent and harmonic change, z-scored: shape (beats, 3)."""
    lo = np.maximum(beats - 2, 0)
    hi = np.minimum(beats + 3, len(onset))
    accent = np.array([onset[a:b].max() for a, b in zip(lo, hi, strict=True)])
    bass_accent = np.array([bass[a:b].max() for a, b in zip(lo, hi, strict=True)])
    ratio = frames.hop / frames.pitch_hop
    chroma = frames.chroma.astype(np.float64)
    edges = np.clip((np.append(beats, beats[-1] + np.median(np.diff(beats))) * ratio), 0, None)
    vectors = []
    for a, b in itertools.pairwise(edges):
        start, stop = round(a), max(round(b), round(a) + 1)
        piece = chroma[start:stop] if start < len(chroma) else chroma[-1:]
        vectors.append(piece.mean(axis=0) if len(piece) else np.zeros(12))
    matrix = np.array(vectors)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True) + 1e-12
    change = np.concatenate([[0.0], 1.0 - np.sum(matrix[1:] * matrix[:-1], axis=1)])
    change[0] = change[1:].mean() if len(change) > 1 else 0.0
    features = np.stack([accent, bass_accent, change], axis=1)
    std = features.std(axis=0)
    return np.asarray((features - features.mean(axis=0)) / np.where(std > 1e-9, std, 1.0))


def estimate_meter(features: F64) -> tuple[int, float, int]:
    """(beats per bar, confidence, phase of the first downbeat) from beat features."""
    if len(features) < 8:
        return 4, 0.0, 0
    weights = np.array([0.5, 0.75, 1.0])
    accent = features @ weights
    scores: dict[int, tuple[float, int]] = {}
    for meter in METERS:
        best = (-math.inf, 0)
        for phase in range(meter):
            mask = np.zeros(len(accent), dtype=bool)
            mask[phase::meter] = True
            contrast = float(accent[mask].mean() - accent[~mask].mean())
            best = max(best, (contrast, phase))
        scores[meter] = best
    ranked = sorted(scores.items(), key=lambda item: item[1][0], reverse=True)
    (meter, (score, phase)), (_, (runner_up, _)) = ranked[0], ranked[1]
    confidence = float(np.clip((score - runner_up) / (abs(score) + 1e-9), 0.0, 1.0))
    return meter, confidence, phase


def tatum_division(onset: F64, beats: I64) -> int:
    """2 when onsets fall half-way between beats, 3 when they fall at thirds."""
    if len(beats) < 4:
        return 2
    starts, stops = beats[:-1], beats[1:]
    halves = np.round(starts + (stops - starts) / 2).astype(np.int64)
    thirds = np.round(starts + (stops - starts) / 3).astype(np.int64)
    two_thirds = np.round(starts + 2 * (stops - starts) / 3).astype(np.int64)
    half_strength = onset[halves].mean()
    third_strength = (onset[thirds].mean() + onset[two_thirds].mean()) / 2
    return 3 if third_strength > 1.2 * half_strength else 2


def analyse_rhythm(frames: Frames) -> Rhythm:
    onset, bass = onset_envelope(frames)
    rate = frames.frame_rate
    tempo, confidence = estimate_tempo(onset, rate)
    beats = track_beats(onset, rate, tempo)
    tempo = refine_tempo(beats, rate, tempo)
    if len(beats) < 4:
        beats = beats[:0]
    strength = onset[beats] / (onset.mean() + 1e-12) if len(beats) else np.zeros(0)
    meter, meter_confidence, phase = (4, 0.0, 0)
    if len(beats) >= 8:
        meter, meter_confidence, phase = estimate_meter(_beat_features(frames, onset, bass, beats))
    return Rhythm(
        onset=onset,
        bass_onset=bass,
        tempo=tempo,
        tempo_confidence=confidence,
        beats=beats,
        beat_strength=strength,
        time_signature=meter,
        time_signature_confidence=meter_confidence,
        downbeat_phase=phase,
        tatums_per_beat=tatum_division(onset, beats),
    )
