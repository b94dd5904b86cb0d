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


def _soft_tone(freq: float, seconds: float, rate: int, amp: float) -> np.ndarray:
    """A bowed/sung note: 80 ms attack, sustained, a little vibrato, no percussive onset."""
    t = np.arange(int(seconds * rate)) / rate
    envelope = np.minimum(1.0, t / 0.08) * np.minimum(1.0, (seconds - t) / 0.05)
    phase = 2 * np.pi * freq * t + 0.3 * np.sin(2 * np.pi * 5.0 * t)
    partials = sum(np.sin(h * phase) / h for h in (1, 2, 3))
    return amp * envelope * partials


def hymn(bpm: float = 66.0, bars: int = 10, rate: int = RATE) -> np.ndarray:
    """Four soft voices changing chord on every beat (C major), an inner voice moving
    in eighth notes: no drums, only pitch changes mark the beat. Mono float32."""
    beat = 60.0 / bpm
    chords = [(48, 64, 67, 72), (53, 65, 69, 72), (55, 62, 67, 71), (48, 64, 67, 72)]
    x = np.zeros(int(bars * 4 * beat * rate) + rate)
    for index in range(bars * 4):
        start = int(index * beat * rate)
        bass, inner, alto, soprano = chords[index % 4] if index % 8 < 4 else chords[::-1][index % 4]
        for midi in (bass, alto, soprano):
            tone = _soft_tone(440.0 * 2 ** ((midi - 69) / 12), beat, rate, 0.12)
            x[start : start + len(tone)] += tone
        for half, midi in enumerate((inner, inner + 2)):
            tone = _soft_tone(440.0 * 2 ** ((midi - 69) / 12), beat / 2, rate, 0.08)
            begin = start + int(half * beat / 2 * rate)
            x[begin : begin + len(tone)] += tone
    return (x / np.abs(x).max() * 0.8).astype(np.float32)


def hats_groove(bpm: float, bars: int = 12, rate: int = RATE, seed: int = 0) -> np.ndarray:
    """Kick and bass on every beat, chords on the beat, soft closed hi-hats on the
    off-beats: the eighth-note level is periodic too, but its off-beats are weak."""
    rng = np.random.default_rng(seed)
    beat = 60.0 / bpm
    x = np.zeros(int(bars * 4 * beat * rate) + rate)
    kick = _kick(rate)
    n = int(0.03 * rate)
    for index in range(bars * 4):
        start = int(index * beat * rate)
        x[start : start + len(kick)] += kick
        for midi in (48, 64, 67):
            tone = _tone(440.0 * 2 ** ((midi - 69) / 12), beat, rate, 0.12)
            x[start : start + len(tone)] += tone
        hat = 0.08 * rng.standard_normal(n) * np.exp(-150 * np.arange(n) / rate)
        off = start + int(beat / 2 * rate)
        x[off : off + n] += np.diff(hat, prepend=0.0)
    return (x / np.abs(x).max() * 0.8).astype(np.float32)


def odd_meter_groove(bpm: float, meter: int, bars: int = 10, rate: int = RATE) -> np.ndarray:
    """A bar of 5 or 7 beats as such grooves are played: kick and a bass root on the
    downbeat, a softer kick opening the second group (3+2, 4+3), a closed hi-hat on
    every other beat, a new chord each bar (I-IV-V-vi). Mono float32."""
    rng = np.random.default_rng(meter)
    beat = 60.0 / bpm
    second = {5: 3, 7: 4}[meter]
    x = np.zeros(int(bars * meter * beat * rate) + rate)
    kick = _kick(rate)
    n = int(0.03 * rate)
    for bar in range(bars):
        degree = (0, 5, 7, 9)[bar % 4]
        root = 60 + degree
        chord = (root, root + (3 if degree == 9 else 4), root + 7)
        bar_start = int(bar * meter * beat * rate)
        bass = _tone(440.0 * 2 ** ((root - 24 - 69) / 12), 2 * beat, rate, 0.5)
        x[bar_start : bar_start + len(bass)] += bass
        for midi in chord:
            tone = _tone(440.0 * 2 ** ((midi - 69) / 12), meter * beat, rate, 0.1)
            x[bar_start : bar_start + len(tone)] += tone
        for i in range(meter):
            start = bar_start + int(i * beat * rate)
            if i in (0, second):
                x[start : start + len(kick)] += kick * (1.0 if i == 0 else 0.6)
            else:
                hat = 0.1 * rng.standard_normal(n) * np.exp(-150 * np.arange(n) / rate)
                x[start : start + n] += np.diff(hat, prepend=0.0)
    return (x / np.abs(x).max() * 0.8).astype(np.float32)


MAJOR, MINOR, DOM7 = (0, 4, 7), (0, 3, 7), (0, 4, 7, 10)


def progression_groove(
    chords: list[tuple[int, tuple[int, ...]]],
    tonic: int = 0,
    bpm: float = 110.0,
    bars: int = 16,
    rate: int = RATE,
) -> np.ndarray:
    """A loop of chords (semitones above the tonic, intervals above the chord's root),
    one per bar, struck on every beat over their root in the bass, with kick and snare:
    pop and modal progressions whose pitch set is another key's. Mono float32."""
    rng = np.random.default_rng(bars)
    beat = 60.0 / bpm
    x = np.zeros(int(bars * 4 * beat * rate) + rate)
    kick = _kick(rate)
    for bar in range(bars):
        degree, intervals = chords[bar % len(chords)]
        root = 60 + (tonic + degree) % 12
        notes = (root - 24, *(root + i for i in intervals))
        for i in range(4):
            start = int((bar * 4 + i) * beat * rate)
            for midi in notes:
                tone = _tone(440.0 * 2 ** ((midi - 69) / 12), beat, rate, 0.12)
                x[start : start + len(tone)] += tone
            if i % 2 == 0:
                x[start : start + len(kick)] += kick
            else:
                n = int(0.1 * rate)
                x[start : start + n] += (
                    0.3 * rng.standard_normal(n) * np.exp(-40 * np.arange(n) / rate)
                )
    return (x / np.abs(x).max() * 0.8).astype(np.float32)


def drum_machine(bpm: float = 120.0, bars: int = 8, rate: int = RATE, seed: int = 0) -> np.ndarray:
    """Drums alone, as a drum machine plays them: kick on beats 1 and 3, a noise snare on
    2 and 4, closed hi-hats on every eighth (off-beats softer); no pitched instrument."""
    rng = np.random.default_rng(seed)
    beat = 60.0 / bpm
    x = np.zeros(int(bars * 4 * beat * rate) + rate)
    kick = _kick(rate)
    snare_n, hat_n = int(0.12 * rate), int(0.03 * rate)
    for index in range(bars * 4):
        start = int(index * beat * rate)
        if index % 2 == 0:
            x[start : start + len(kick)] += kick
        else:
            decay = np.exp(-30 * np.arange(snare_n) / rate)
            x[start : start + snare_n] += 0.35 * rng.standard_normal(snare_n) * decay
        for eighth, level in ((0, 0.1), (1, 0.06)):
            at = start + int(eighth * beat / 2 * rate)
            hat = level * rng.standard_normal(hat_n) * np.exp(-150 * np.arange(hat_n) / rate)
            x[at : at + hat_n] += np.diff(hat, prepend=0.0)
    return (x / np.abs(x).max() * 0.8).astype(np.float32)
