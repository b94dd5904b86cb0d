"""Deterministic test audio: additive-synthesis grooves with known tempo, key and meter."""

from __future__ import annotations

import numpy as np

RATE = 44_100


def _tone(freq: float, seconds: float, rate: int, amp: float) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    envelope = np.exp(-3.0 * t)
    partials = sum(np.sin(2 * np.pi * freq * h * t) / h for h in (1, 2, 3, 4))
    return amp * envelope * partials


def _kick(rate: int) -> np.ndarray:
    t = np.arange(int(0.15 * rate)) / rate
    return 0.8 * np.sin(2 * np.pi * (60 + 80 * np.exp(-30 * t)) * t) * np.exp(-20 * t)


def groove(
    bpm: float = 120.0,
    tonic: int = 0,
    minor: bool = False,
    meter: int = 4,
    bars: int = 12,
    rate: int = RATE,
    seed: int = 0,
) -> np.ndarray:
    """Chords (I-IV-V-I, a bar each) struck on every beat, kick on the downbeat
    (and beat 3 in 4/4), a noise snare elsewhere: mono float32 at ``rate``."""
    rng = np.random.default_rng(seed)
    beat = 60.0 / bpm
    x = np.zeros(int(bars * meter * beat * rate) + rate)
    third = 3 if minor else 4
    progression = (0, 5, 7, 0)
    kick = _kick(rate)
    for bar in range(bars):
        degree = progression[bar % 4]
        root = 60 + tonic + degree
        chord = (root - 12, root + (4 if degree == 7 else third), root + 7)
        for i in range(meter):
            start = int((bar * meter + i) * beat * rate)
            for midi in chord:
                tone = _tone(440.0 * 2 ** ((midi - 69) / 12), beat, rate, 0.15)
                x[start : start + len(tone)] += tone
            if i == 0 or (meter == 4 and i == 2):
                x[start : start + len(kick)] += kick
            else:
                n = int(0.1 * rate)
                snare = 0.3 * rng.standard_normal(n) * np.exp(-40 * np.arange(n) / rate)
                x[start : start + n] += snare
    return (x / np.abs(x).max() * 0.8).astype(np.float32)


def sine(freq: float, seconds: float, amplitude: float, rate: int = RATE) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)
