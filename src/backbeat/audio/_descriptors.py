"""The [0, 1] descriptors: measured raw features, then a stated calibration.

Raw features (all from the shared front end; names are the keys of
:func:`raw_features`):

- level and dynamics: integrated loudness (BS.1770), loudness range (EBU 3342),
  spread of frame levels, share of low-energy frames (frames below half the mean
  RMS; Scheirer & Slaney 1997);
- rhythm: onset rate, mean onset strength, tempo, pulse clarity (tempo
  confidence), beat strength, and the detrended-fluctuation exponent of the
  frame-level envelope over 0.2-8 s (Streich & Herrera 2005: danceable music has
  a low exponent, its loudness fluctuating steadily at all these scales);
- timbre: spectral centroid and its spread, flatness, zero-crossing rate and its
  spread, MFCC 1-4 means, share of energy below 150 Hz and above 5 kHz;
- tonality and speech cues: key strength, mode, chroma stability (cosine of
  consecutive chroma frames), pitch salience (peak/mean of the log-frequency
  spectrum), and the share of envelope modulation at the 3-6 Hz syllable rate
  (Houtgast & Steeneken's modulation-spectrum cue for speech).

Calibration (``calibration.json``, written by
``benchmarks/audio_eval/calibrate.py`` from the rendered harness corpus; the file
states its data, its date and each model's fit quality):

- ``logistic``: a probability from logistic regression on labelled harness clips
  (speechiness: speech vs music; instrumentalness: music vs music with a voice;
  acousticness: acoustic vs electronic instrument programs; liveness: clips with added
  hall reverberation
  and crowd noise vs dry renders);
- ``graded`` (danceability, energy, valence: :data:`GRADED`): scales, not class
  probabilities. Each documented ingredient goes through a smooth, monotone map
  with stated anchors (a logistic around a midpoint, or a bell around a preferred
  tempo) and the maps are combined with stated weights, so a value moves by a
  graded amount when an ingredient does and never sticks at 0 or 1 while any
  ingredient can still move. Danceability is a weighted *geometric* mean (a track
  with no steady pulse is not danceable however bright it is) of tempo suitability
  (bell around 120 BPM in octaves), pulse clarity, beat strength and regularity (the
  DFA exponent: Streich & Herrera 2005); energy a weighted arithmetic mean of
  loudness, onset rate, attack sharpness (percussive against bowed or sung onsets),
  brightness, noisiness (zero-crossing rate) and compression (Spotify's list:
  "dynamic range, perceived loudness, timbre, onset rate, and general entropy");
  valence of major mode (signed by its confidence), tempo, brightness and
  articulation density, the happy/sad cues Gabrielsson & Lindström (2010) review (a
  heuristic: no listener ratings exist that backbeat could fit to). Energy's mean is then stretched
  by a logistic around 0.55 (scale 0.12): averages crowd the middle. Every ingredient
  but loudness is read at the reference level (``REFERENCE_LUFS``), so only energy
  depends on playback gain, through loudness (weight 0.35 of 1.1 before the stretch:
  20 dB quieter moved energy by 0.16 for a groove at -22 LUFS and by 0.40 for voices at
  -13 LUFS, measured on the test clips).
"""

from __future__ import annotations

import json
import math
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

from backbeat.audio._frontend import Frames
from backbeat.audio._rhythm import Rhythm
from backbeat.audio._structure import onset_peaks
from backbeat.audio._tonal import Key
from backbeat.spotify import DESCRIPTORS

__all__ = ["DESCRIPTORS", "GRADED", "calibrated", "dfa_exponent", "graded", "raw_features"]

F64 = npt.NDArray[np.float64]


def dfa_exponent(envelope: F64, frame_rate: float) -> float:
    """Detrended fluctuation analysis exponent over 0.2-8 s scales (0 when too short)."""
    if len(envelope) < frame_rate * 4 or envelope.std() < 1e-9:
        return 0.0
    profile = np.cumsum(envelope - envelope.mean())
    scales = np.unique(np.geomspace(0.2 * frame_rate, 8.0 * frame_rate, 12).astype(int))
    scales = scales[scales * 4 <= len(profile)]
    if len(scales) < 3:
        return 0.0
    fluctuations = []
    for scale in scales:
        windows = profile[: len(profile) // scale * scale].reshape(-1, scale)
        t = np.arange(scale, dtype=np.float64)
        t_c = t - t.mean()
        slope = (windows - windows.mean(axis=1, keepdims=True)) @ t_c / (t_c @ t_c)
        trend = windows.mean(axis=1, keepdims=True) + np.outer(slope, t_c)
        fluctuations.append(math.sqrt(float(np.mean((windows - trend) ** 2))) + 1e-12)
    slope_fit = np.polyfit(np.log(scales), np.log(fluctuations), 1)[0]
    return float(slope_fit)


def _modulation_ratio(frames: Frames) -> float:
    """Share of the speech-band envelope's modulation power at 3-6 Hz (of 0.5-15 Hz)."""
    rate = frames.frame_rate
    if len(frames) < rate * 2:
        return 0.0
    envelope = 10 * np.log10(frames.mel[:, 4:40].astype(np.float64).sum(axis=1) + 1e-10)
    envelope = np.maximum(envelope, envelope.max() - 60.0)
    segment = min(128, len(envelope))
    pieces = sliding_window_view(envelope - envelope.mean(), segment)[:: segment // 2]
    spectra = np.abs(np.fft.rfft(pieces * np.hanning(segment), axis=1)) ** 2
    power = spectra.mean(axis=0)
    freqs = np.fft.rfftfreq(segment, 1.0 / rate)
    band = (freqs >= 0.5) & (freqs <= 15.0)
    syllabic = (freqs >= 3.0) & (freqs <= 6.0)
    total = float(power[band].sum())
    return float(power[syllabic].sum() / total) if total > 0 else 0.0


def raw_features(
    frames: Frames, rhythm: Rhythm, key: Key, loudness: float, loudness_range: float
) -> dict[str, float]:
    """Every raw feature the calibrated descriptors read, by name."""
    rate = frames.frame_rate
    rms = frames.rms.astype(np.float64)
    audible = rms * frames.level_gain > 1e-4  # at the reference level: gain-independent
    level = 20 * np.log10(np.maximum(rms[audible], 1e-5)) if audible.any() else np.zeros(1)
    mel = frames.mel.astype(np.float64)
    total_energy = mel.sum() + 1e-12
    from backbeat.audio._rhythm import _mel_centres

    centres = _mel_centres(frames)
    chroma = frames.chroma.astype(np.float64)
    norms = np.linalg.norm(chroma, axis=1) + 1e-12
    stability = (
        float(np.mean(np.sum(chroma[1:] * chroma[:-1], axis=1) / (norms[1:] * norms[:-1])))
        if len(chroma) > 1
        else 0.0
    )
    spectrum = frames.pitch_spectrum.astype(np.float64)
    salience = (
        float(np.median(spectrum.max(axis=1) / (spectrum.mean(axis=1) + 1e-12)))
        if len(spectrum)
        else 0.0
    )
    peaks, _ = onset_peaks(rhythm.onset, rate)
    duration = max(frames.duration, 1e-9)
    mfcc_means = frames.mfcc[:, 1:5].mean(axis=0) if len(frames) else np.zeros(4)
    zcr = frames.zcr[audible] if audible.any() else np.zeros(1)
    centroid = frames.centroid[audible] if audible.any() else np.zeros(1)
    flatness = frames.flatness[audible] if audible.any() else np.ones(1)
    return {
        "loudness": loudness,
        "loudness_range": loudness_range,
        "level_std": float(level.std()),
        "low_energy": float(np.mean(rms < 0.5 * rms.mean())) if len(rms) else 1.0,
        "onset_rate": len(peaks) / duration,
        "sharpness": rhythm.sharpness,
        "onset_mean": float(rhythm.onset.mean()) if len(rhythm.onset) else 0.0,
        "tempo": rhythm.tempo,
        "pulse_clarity": rhythm.tempo_confidence,
        "beat_strength": float(rhythm.beat_strength.mean()) if len(rhythm.beat_strength) else 0.0,
        "dfa": dfa_exponent(rms, rate),
        "centroid": float(np.mean(centroid)) / 1000.0,
        "centroid_std": float(np.std(centroid)) / 1000.0,
        "flatness": float(np.mean(np.log10(flatness + 1e-12))),
        "zcr": float(np.mean(zcr)),
        "zcr_std": float(np.std(zcr)),
        "mfcc1": float(mfcc_means[0]),
        "mfcc2": float(mfcc_means[1]),
        "mfcc3": float(mfcc_means[2]),
        "mfcc4": float(mfcc_means[3]),
        "bass_share": float(mel[:, centres < 150.0].sum() / total_energy),
        "treble_share": float(mel[:, centres > 5000.0].sum() / total_energy),
        "key_strength": key.key_confidence,
        "mode": float(key.mode),
        # +1 certain major, -1 certain minor, 0 undecided, mapped to [0, 1]
        "major": 0.5 + 0.5 * (1.0 if key.mode == 1 else -1.0) * key.mode_confidence,
        "chroma_stability": stability,
        "pitch_salience": math.log10(max(salience, 1e-12)),
        "modulation_4hz": _modulation_ratio(frames),
    }


@lru_cache(maxsize=1)
def calibration() -> dict[str, Any]:
    text = resources.files("backbeat.audio").joinpath("calibration.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def _linear(model: dict[str, Any], raw: dict[str, float]) -> float:
    x = np.array([raw[name] for name in model["features"]], dtype=np.float64)
    z = (x - np.asarray(model["mean"])) / np.asarray(model["scale"])
    return float(z @ np.asarray(model["coef"]) + float(model.get("intercept", 0.0)))


#: The graded descriptors: ingredients, their maps and weights (see the module's doc).
#: ``logistic``: 1 / (1 + exp(-(x - midpoint) / scale)) (a negative scale decreases);
#: ``log_logistic``: the same on ln x against ln midpoint; ``bell``: exp(-(log2(x /
#: centre))^2 / (2 width^2)), octaves from a preferred value; ``unit``: x clipped to [0, 1].
#: Ingredients two scales share: brightness (spectral centroid, kHz) and articulation
#: density (onsets per second).
BRIGHTNESS = {
    "feature": "centroid",
    "map": "logistic",
    "midpoint": 1.5,
    "scale": 0.6,
    "weight": 0.15,
}
ONSET_DENSITY = {"feature": "onset_rate", "map": "logistic", "midpoint": 3.0, "scale": 1.5}
GRADED: dict[str, dict[str, Any]] = {
    "danceability": {
        "combine": "geometric",
        "ingredients": [
            {"feature": "tempo", "map": "bell", "centre": 120.0, "width": 0.5, "weight": 0.3},
            {"feature": "pulse_clarity", "map": "unit", "weight": 0.25},
            {
                "feature": "beat_strength",
                "map": "log_logistic",
                "midpoint": 5.0,
                "scale": 0.5,
                "weight": 0.25,
            },
            {"feature": "dfa", "map": "logistic", "midpoint": 0.75, "scale": -0.1, "weight": 0.2},
        ],
    },
    "energy": {
        "combine": "arithmetic",
        # An average of five maps crowds the middle (the reported varied corpus: IQR 0.15
        # against 0.27 for 6,000 Spotify tracks, benchmarks/audio_eval/spread.py): the mean
        # is stretched by a logistic around 0.55, monotone, so no order or grading changes.
        "stretch": {"midpoint": 0.55, "scale": 0.12},
        "ingredients": [
            {
                "feature": "loudness",
                "map": "logistic",
                "midpoint": -18.0,
                "scale": 5.0,
                "weight": 0.35,
            },
            {**ONSET_DENSITY, "weight": 0.15},
            # attack: how percussive the onsets are (about 0.2 for bowed, sung or organ
            # music, 0.3-0.7 for drums): a chorale's many soft note changes are activity
            # of another kind than a drum kit's hits (Spotify: "a Bach prelude scores low")
            {
                "feature": "sharpness",
                "map": "logistic",
                "midpoint": 0.3,
                "scale": 0.06,
                "weight": 0.2,
            },
            BRIGHTNESS,
            # noisiness as the zero-crossing rate: spectral flatness would read the
            # quantisation noise of a quiet 16-bit file as noise
            {"feature": "zcr", "map": "logistic", "midpoint": 0.1, "scale": 0.04, "weight": 0.15},
            {
                "feature": "loudness_range",
                "map": "logistic",
                "midpoint": 6.0,
                "scale": -3.0,
                "weight": 0.1,
            },
        ],
    },
    "valence": {
        "combine": "arithmetic",
        "ingredients": [
            {"feature": "major", "map": "unit", "weight": 0.4},
            {
                "feature": "tempo",
                "map": "logistic",
                "midpoint": 110.0,
                "scale": 25.0,
                "weight": 0.25,
            },
            BRIGHTNESS,
            {**ONSET_DENSITY, "weight": 0.2},
        ],
    },
}


def _mapped(spec: dict[str, Any], x: float) -> float:
    kind = spec["map"]
    if kind == "unit":
        return min(1.0, max(0.0, x))
    if kind == "bell":
        if x <= 0:
            return 0.0
        return math.exp(-(math.log2(x / spec["centre"]) ** 2) / (2 * spec["width"] ** 2))
    if kind == "log_logistic":
        z = (math.log(max(x, 1e-9)) - math.log(spec["midpoint"])) / spec["scale"]
    else:
        z = (x - spec["midpoint"]) / spec["scale"]
    return 1.0 / (1.0 + math.exp(-max(min(z, 50.0), -50.0)))


def graded(name: str, raw: dict[str, float]) -> float:
    """A graded descriptor of :data:`GRADED` from the raw features."""
    spec = GRADED[name]
    parts = [(_mapped(i, raw[i["feature"]]), float(i["weight"])) for i in spec["ingredients"]]
    total = sum(weight for _, weight in parts)
    if spec["combine"] == "geometric":
        return math.exp(sum(w * math.log(max(v, 1e-3)) for v, w in parts) / total)
    value = sum(v * w for v, w in parts) / total
    if "stretch" in spec:
        value = _mapped({"map": "logistic", **spec["stretch"]}, value)
    return value


def calibrated(raw: dict[str, float]) -> dict[str, float]:
    """Each descriptor in [0, 1] from the raw features, :data:`GRADED` and
    ``calibration.json``."""
    models = calibration()["descriptors"]
    out: dict[str, float] = {}
    for name in DESCRIPTORS:
        if name in GRADED:
            out[name] = round(graded(name, raw), 4)
            continue
        model = models[name]
        score = _linear(model, raw)
        if model["kind"] == "logistic":
            value = 1.0 / (1.0 + math.exp(-max(min(score, 50.0), -50.0)))
        else:
            quantiles = np.asarray(model["quantiles"], dtype=np.float64)
            value = float(np.interp(score, quantiles, np.linspace(0.0, 1.0, len(quantiles))))
        out[name] = round(value, 4)
    return out
