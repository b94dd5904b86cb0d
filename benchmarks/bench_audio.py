"""Audio analysis throughput: seconds of audio analysed per second of compute.

Corpus: 8 generated 30 s grooves (44.1 kHz stereo WAV, additive synthesis, known
tempo and key), written to a temporary folder.

1. Warm, one core: ``analyze`` and ``analyze_structure`` including decoding, next to
   the same outputs from librosa 0.11 (load + ``beat_track`` + ``chroma_cqt`` + key
   profiles; no loudness) and Essentia (MonoLoader + RhythmExtractor2013 +
   KeyExtractor + LoudnessEBUR128). Targets: backbeat >= 250x real time,
   >= 2x librosa.
2. ``backbeat analyze --jobs 2``'s process pool over 32 files (wall clock, pool start-up
   included).
3. Cold start: a new Python process importing the library and analysing its first
   file (median of 3). Target <= 1.5 s. librosa's first call pays numba's JIT.

Peers are dev-only (``pip install -e '.[eval]'``); a missing peer is reported as such.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import soundfile as sf

from _table import print_table

RATE = 44_100
CLIP_S = 30.0
FILES = 8


def groove(bpm: float, tonic: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    beat = 60.0 / bpm
    n = int(CLIP_S * RATE)
    x = np.zeros(n + RATE)
    t_beat = np.arange(int(beat * RATE)) / RATE
    kick_t = np.arange(int(0.15 * RATE)) / RATE
    sweep = 2 * np.pi * (60 + 80 * np.exp(-30 * kick_t)) * kick_t
    kick = 0.8 * np.sin(sweep) * np.exp(-20 * kick_t)
    for i in range(int(CLIP_S / beat)):
        start = int(i * beat * RATE)
        root = 60 + tonic + (0, 5, 7, 0)[(i // 4) % 4]
        for midi in (root - 12, root + 4, root + 7):
            f = 440.0 * 2 ** ((midi - 69) / 12)
            partials = sum(np.sin(2 * np.pi * f * h * t_beat) / h for h in (1, 2, 3))
            tone = 0.15 * np.exp(-3 * t_beat) * partials
            x[start : start + len(tone)] += tone
        if i % 2 == 0:
            x[start : start + len(kick)] += kick
        else:
            m = int(0.1 * RATE)
            x[start : start + m] += 0.3 * rng.standard_normal(m) * np.exp(-40 * np.arange(m) / RATE)
    x = x[:n] / np.abs(x).max() * 0.8
    return np.stack([x, x], axis=1).astype(np.float32)


def librosa_outputs(path: str) -> None:
    import librosa

    y, sr = librosa.load(path, sr=22_050, mono=True)
    librosa.beat.beat_track(y=y, sr=sr)
    chroma = librosa.feature.chroma_cqt(y=y, sr=sr).sum(axis=1)
    np.corrcoef(chroma, np.roll(np.arange(12.0), 3))


def essentia_outputs(path: str) -> None:
    import essentia
    import essentia.standard as es

    essentia.log.warningActive = False
    audio = es.MonoLoader(filename=path, sampleRate=44_100)()
    es.RhythmExtractor2013(method="multifeature")(audio)
    es.KeyExtractor()(audio)
    stereo = es.AudioLoader(filename=path)()[0]
    es.LoudnessEBUR128(sampleRate=44_100)(stereo)


def backbeat_features(path: str) -> None:
    from backbeat.audio import analyze

    analyze(path)


def backbeat_structure(path: str) -> None:
    from backbeat.audio import analyze_structure

    analyze_structure(path)


def warm_speed(run: Callable[[str], None], paths: list[str]) -> float:
    run(paths[0])  # imports, caches, JIT
    start = time.perf_counter()
    for path in paths:
        run(path)
    return len(paths) * CLIP_S / (time.perf_counter() - start)


def cold_start(code: str, path: str) -> float:
    times = []
    for _ in range(3):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code, path], check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def available(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i in range(FILES):
            path = Path(tmp) / f"groove_{i}.wav"
            sf.write(path, groove(80.0 + 12 * i, i % 12, i), RATE)
            paths.append(str(path))
        rows: list[list[object]] = []
        speeds: dict[str, float] = {}
        colds: dict[str, str] = {}
        here = str(Path(__file__).resolve().parent.parent / "src")
        prefix = f"import sys; sys.path.insert(0, {here!r}); "
        code = prefix + "from backbeat.audio import analyze; analyze(sys.argv[1])"
        colds["backbeat analyze"] = f"{cold_start(code, paths[0]):.2f} s"
        speeds["backbeat analyze"] = warm_speed(backbeat_features, paths)
        speeds["backbeat analyze_structure"] = warm_speed(backbeat_structure, paths)
        if available("librosa"):
            code = (
                "import sys, librosa; y, sr = librosa.load(sys.argv[1], sr=22050); "
                "librosa.beat.beat_track(y=y, sr=sr); "
                "librosa.feature.chroma_cqt(y=y, sr=sr)"
            )
            colds["librosa"] = f"{cold_start(code, paths[0]):.2f} s"
            speeds["librosa"] = warm_speed(librosa_outputs, paths)
        if available("essentia"):
            code = (
                "import sys, essentia.standard as es; a = es.MonoLoader(filename=sys.argv[1])(); "
                "es.RhythmExtractor2013(method='multifeature')(a); es.KeyExtractor()(a)"
            )
            colds["essentia"] = f"{cold_start(code, paths[0]):.2f} s"
            speeds["essentia"] = warm_speed(essentia_outputs, paths)
        # Two worker processes over 32 files (16 min of audio), pool start-up included.
        from backbeat.audio._batch import run

        start = time.perf_counter()
        rows_out = list(run(paths * 4, jobs=2))
        jobs2 = len(rows_out) * CLIP_S / (time.perf_counter() - start)
        for name, speed in speeds.items():
            rows.append([name, f"{speed:.0f}x", colds.get(name, "-")])
        rows.append(["backbeat analyze --jobs 2 (32 files, wall)", f"{jobs2:.0f}x", "-"])
        print_table(
            f"Audio analysis, {FILES} x {CLIP_S:.0f} s WAV 44.1 kHz stereo "
            "(x real time; cold = new process, first file)",
            ["method", "x real time", "cold start"],
            rows,
        )
        if "librosa" in speeds:
            ratio = speeds["backbeat analyze"] / speeds["librosa"]
            print(f"\nbackbeat analyze / librosa throughput: {ratio:.1f}x (target >= 2x)")
        if "essentia" in speeds:
            ratio = speeds["backbeat analyze"] / speeds["essentia"]
            print(f"backbeat analyze / Essentia throughput: {ratio:.1f}x")
        print("targets: analyze >= 250x real time per core, cold start <= 1.5 s")


if __name__ == "__main__":
    main()
