"""Score backbeat's audio analysis against the rendered ground truth, beside two baselines.

    python benchmarks/audio_eval/render.py --out var/audio_eval     # once
    python benchmarks/audio_eval/evaluate.py --corpus var/audio_eval [--jobs 2] [--json]

Baselines (dev-only dependencies, never imported by backbeat):
- librosa: ``beat_track`` tempo, ``chroma_cqt`` + Krumhansl–Kessler profiles for key,
  the zero-crossing-rate spread (Saunders 1996) as its speech score;
- Essentia (AGPL-3.0): ``RhythmExtractor2013(method="multifeature")``, ``KeyExtractor``,
  ``LoudnessEBUR128``.
Reference loudness: pyloudnorm (BS.1770-4) on the same files.

Metrics, per set of the manifest (the rendered harness's sets, or the real corpus's
sources from ``real.py``) and overall: key accuracy and the MIREX weighted key score
(fifth 0.5, relative 0.3, parallel 0.2) and the count of each kind of key error
(dominant, subdominant, relative, parallel, other, none); tempo ACC1 (within 4 %), ACC2 (also at x2,
x1/2, x3, x1/3) and Spearman's rho between estimate and truth; beat F-measure (+-70 ms,
beats before 5 s left out, as MIREX does) where the manifest states a beat grid (the real
corpus: songs start on their first beat at t = 0 and keep their stated tempo, so the grid
is k x 60 / tempo); meter accuracy; loudness error in LU; speech/music AUC. Results also land in ``<corpus>/results.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

KK = (
    (6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88),
    (6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17),
)
ESSENTIA_KEYS = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"]
FLAT_ALIASES = {"Db": "C#", "Eb": "D#", "Gb": "F#", "Ab": "G#", "Bb": "A#"}


def _kk_key(chroma: np.ndarray) -> tuple[int, int]:
    best, best_key = -2.0, (0, 1)
    for mode, profile in ((1, KK[0]), (0, KK[1])):
        for tonic in range(12):
            r = float(np.corrcoef(chroma, np.roll(profile, tonic))[0, 1])
            if r > best:
                best, best_key = r, (tonic, mode)
    return best_key


def run_backbeat(path: Path) -> dict[str, Any]:
    from backbeat.audio import _analyze
    from backbeat.audio._descriptors import DESCRIPTORS, raw_features

    started = time.perf_counter()
    state = _analyze._run(str(path), 22_050)
    features = _analyze._features(state)
    raw = raw_features(state.frames, state.rhythm, state.key, state.loudness, state.loudness_range)
    return {
        "seconds": time.perf_counter() - started,
        "key": features.key,
        "mode": features.mode,
        "tempo": features.tempo,
        "beats": [round(float(t), 4) for t in state.rhythm.beat_times],
        "meter": features.time_signature,
        "loudness": features.loudness,
        "speech_score": features.speechiness,
        "descriptors": {k: getattr(features, k) for k in DESCRIPTORS},
        "raw": raw,
    }


def run_librosa(path: Path) -> dict[str, Any]:
    import librosa

    started = time.perf_counter()
    y, sr = librosa.load(str(path), sr=22_050, mono=True)
    tempo, frames = librosa.beat.beat_track(y=y, sr=sr)
    beats = librosa.frames_to_time(frames, sr=sr)
    chroma = librosa.feature.chroma_cqt(y=y, sr=sr).sum(axis=1)
    tonic, mode = _kk_key(chroma) if chroma.std() > 0 else (-1, 0)
    zcr = librosa.feature.zero_crossing_rate(y)[0]
    return {
        "seconds": time.perf_counter() - started,
        "key": tonic,
        "mode": mode,
        "tempo": float(np.atleast_1d(tempo)[0]),
        "beats": [round(float(t), 4) for t in beats],
        "meter": None,
        "loudness": None,
        "speech_score": float(zcr.std() / (zcr.mean() + 1e-9)),
    }


def run_essentia(path: Path) -> dict[str, Any]:
    import essentia
    import essentia.standard as es

    essentia.log.warningActive = False
    started = time.perf_counter()
    audio = es.MonoLoader(filename=str(path), sampleRate=44_100)()
    bpm, ticks, *_ = es.RhythmExtractor2013(method="multifeature")(audio)
    key, scale, _strength = es.KeyExtractor()(audio)
    key = FLAT_ALIASES.get(key, key)
    stereo, _, channels, *_ = es.AudioLoader(filename=str(path))()
    if channels == 1:
        stereo = np.stack([stereo[:, 0], stereo[:, 0]], 1)
    loudness = float(es.LoudnessEBUR128(sampleRate=44_100)(stereo)[2])
    return {
        "seconds": time.perf_counter() - started,
        "key": ESSENTIA_KEYS.index(key) if key in ESSENTIA_KEYS else -1,
        "mode": 1 if scale == "major" else 0,
        "tempo": float(bpm),
        "beats": [round(float(t), 4) for t in ticks],
        "meter": None,
        "loudness": loudness,
        "speech_score": None,
    }


def reference_loudness(path: Path) -> float | None:
    import pyloudnorm
    import soundfile as sf

    data, rate = sf.read(str(path), dtype="float64", always_2d=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = pyloudnorm.Meter(rate).integrated_loudness(data)
    return float(value) if math.isfinite(value) else None


RUNNERS = {"backbeat": run_backbeat, "librosa": run_librosa, "essentia": run_essentia}


def analyse_file(args: tuple[Path, dict[str, Any], tuple[str, ...]]) -> dict[str, Any]:
    """Every method on one file, each in a process of its own: a peer that crashes (librosa
    segfaulted on some files here) is reported for that file, not fatal to the run."""
    path, truth, methods = args
    import soundfile as sf

    row: dict[str, Any] = {
        "truth": truth,
        "reference_loudness": reference_loudness(path),
        "reference_beats": reference_beats(truth, sf.info(str(path)).duration),
    }
    for name in methods:
        done = subprocess.run(
            [sys.executable, __file__, "--one", name, str(path)],
            capture_output=True,
            text=True,
            timeout=900,
        )
        lines = [x for x in done.stdout.splitlines() if x.startswith("{")]
        if done.returncode == 0 and lines:
            row[name] = json.loads(lines[-1])
        else:
            row[name] = {"error": f"exit {done.returncode}: {done.stderr.strip()[-200:]}"}
    return row


def _one(method: str, path: str) -> None:
    try:
        print(json.dumps(RUNNERS[method](Path(path))))
    except Exception as exc:  # a baseline failing on one file is reported, not fatal
        print(json.dumps({"error": f"{type(exc).__name__}: {exc}"}))


def mirex(est: tuple[int, int], truth: tuple[int, int]) -> float:
    (k, m), (tk, tm) = est, truth
    if k < 0:
        return 0.0
    if (k, m) == (tk, tm):
        return 1.0
    if m == tm and (k - tk) % 12 in (5, 7):
        return 0.5
    if m != tm and ((tm == 1 and (k - tk) % 12 == 9) or (tm == 0 and (k - tk) % 12 == 3)):
        return 0.3
    if m != tm and k == tk:
        return 0.2
    return 0.0


def confusion(est: tuple[int, int], truth: tuple[int, int]) -> str:
    """The kind of a key error: right, fifth (dominant or subdominant), relative, parallel,
    none (no key), other."""
    (k, m), (tk, tm) = est, truth
    if k < 0:
        return "none"
    if (k, m) == (tk, tm):
        return "right"
    if m == tm and (k - tk) % 12 == 7:
        return "dominant"
    if m == tm and (k - tk) % 12 == 5:
        return "subdominant"
    if m != tm and ((tm == 1 and (k - tk) % 12 == 9) or (tm == 0 and (k - tk) % 12 == 3)):
        return "relative"
    if m != tm and k == tk:
        return "parallel"
    return "other"


BEAT_WINDOW_S, BEAT_SKIP_S = 0.07, 5.0


def beat_f_measure(estimated: list[float], reference: list[float]) -> float:
    """F-measure of beat times, each reference beat matched once within +-70 ms."""
    est = np.array([t for t in estimated if t >= BEAT_SKIP_S])
    ref = np.array([t for t in reference if t >= BEAT_SKIP_S])
    if len(est) == 0 or len(ref) == 0:
        return 0.0
    used = np.zeros(len(ref), dtype=bool)
    hits = 0
    for t in est:
        distance = np.where(used, np.inf, np.abs(ref - t))
        nearest = int(np.argmin(distance))
        if distance[nearest] <= BEAT_WINDOW_S:
            used[nearest] = True
            hits += 1
    precision, recall = hits / len(est), hits / len(ref)
    return 0.0 if hits == 0 else 2 * precision * recall / (precision + recall)


def reference_beats(truth: dict[str, Any], duration: float) -> list[float] | None:
    """The stated grid: only where the manifest says the file starts on a beat at its tempo."""
    if not truth.get("beat_grid") or not truth.get("tempo"):
        return None
    period = 60.0 / truth["tempo"]
    end = min(duration, truth.get("grid_end_s") or duration)
    return [k * period for k in range(int(end / period + 1e-6))]


def spearman(a: list[float], b: list[float]) -> float:
    if len(a) < 3:
        return float("nan")
    ra = np.argsort(np.argsort(a)).astype(float)
    rb = np.argsort(np.argsort(b)).astype(float)
    return float(np.corrcoef(ra, rb)[0, 1])


def auc(positives: list[float], negatives: list[float]) -> float:
    if not positives or not negatives:
        return float("nan")
    wins = sum((p > n) + 0.5 * (p == n) for p in positives for n in negatives)
    return float(wins / (len(positives) * len(negatives)))


def score(rows: list[dict[str, Any]], method: str) -> dict[str, Any]:
    out: dict[str, Any] = {}

    def ok(row: dict[str, Any]) -> bool:
        return method in row and "error" not in row[method]

    tempo_sets = sorted({r["truth"]["set"] for r in rows if r["truth"].get("tempo")})
    groups = [*tempo_sets, "overall"] if len(tempo_sets) > 1 else tempo_sets
    for group in groups:
        members = [
            r
            for r in rows
            if ok(r) and r["truth"].get("tempo") and group in ("overall", r["truth"]["set"])
        ]
        if not members:
            continue
        keyed = [r for r in members if r["truth"].get("key") is not None]
        if keyed:
            out[f"{group}.key_acc"] = float(
                np.mean(
                    [
                        (r[method]["key"], r[method]["mode"])
                        == (r["truth"]["key"], r["truth"]["mode"])
                        for r in keyed
                    ]
                )
            )
            kinds = [
                confusion(
                    (r[method]["key"], r[method]["mode"]), (r["truth"]["key"], r["truth"]["mode"])
                )
                for r in keyed
            ]
            for kind in ("dominant", "subdominant", "relative", "parallel", "other", "none"):
                if kinds.count(kind):
                    out[f"{group}.key_confused_{kind}"] = float(kinds.count(kind))
            out[f"{group}.key_mirex"] = float(
                np.mean(
                    [
                        mirex(
                            (r[method]["key"], r[method]["mode"]),
                            (r["truth"]["key"], r["truth"]["mode"]),
                        )
                        for r in keyed
                    ]
                )
            )
        est = [r[method]["tempo"] for r in members]
        true = [r["truth"]["tempo"] for r in members]
        out[f"{group}.tempo_acc1"] = float(
            np.mean([abs(e - t) <= 0.04 * t for e, t in zip(est, true)])
        )
        out[f"{group}.tempo_acc2"] = float(
            np.mean(
                [
                    any(abs(e - t * f) <= 0.04 * t * f for f in (1, 2, 0.5, 3, 1 / 3))
                    for e, t in zip(est, true)
                ]
            )
        )
        out[f"{group}.tempo_spearman"] = spearman(est, true)
        gridded = [r for r in members if r.get("reference_beats")]
        if gridded:
            out[f"{group}.beat_f"] = float(
                np.mean(
                    [
                        beat_f_measure(r[method].get("beats", []), r["reference_beats"])
                        for r in gridded
                    ]
                )
            )
        metered = [
            r for r in members if r["truth"].get("meter") and r[method].get("meter") is not None
        ]
        if metered:
            out[f"{group}.meter_acc"] = float(
                np.mean([r[method]["meter"] == r["truth"]["meter"] for r in metered])
            )
    errors = [
        abs(r[method]["loudness"] - r["reference_loudness"])
        for r in rows
        if ok(r) and r[method].get("loudness") is not None and r["reference_loudness"] is not None
    ]
    if errors:
        out["loudness.mean_abs_lu"] = float(np.mean(errors))
        out["loudness.max_abs_lu"] = float(np.max(errors))
    speech = [
        r[method]["speech_score"]
        for r in rows
        if ok(r) and r["truth"]["set"] == "speech" and r[method].get("speech_score") is not None
    ]
    music = [
        r[method]["speech_score"]
        for r in rows
        if ok(r)
        and r["truth"]["set"] in ("groove", "chorale")
        and r[method].get("speech_score") is not None
    ]
    if speech and music:
        out["speech_music_auc"] = auc(speech, music)
    out["files"] = sum(ok(r) for r in rows)
    out["errors"] = sum(method in r and "error" in r[method] for r in rows)
    out["seconds"] = float(sum(r[method]["seconds"] for r in rows if ok(r)))
    return out


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--one":
        _one(sys.argv[2], sys.argv[3])
        return
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--corpus", type=Path, default=Path("var/audio_eval"))
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--methods", default="backbeat,librosa,essentia")
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="keep the other methods' rows from the last run; recompute only --methods",
    )
    args = parser.parse_args()
    manifest = args.corpus / "manifest.jsonl"
    if not manifest.exists():
        sys.exit(f"no corpus at {args.corpus}: run benchmarks/audio_eval/render.py first")
    truths = [json.loads(line) for line in manifest.read_text().splitlines() if line.strip()]
    methods = tuple(m for m in args.methods.split(",") if m)
    jobs = [(args.corpus / t["file"], t, methods) for t in truths]
    with ProcessPoolExecutor(args.jobs) as pool:
        rows = list(pool.map(analyse_file, jobs, chunksize=2))
    previous = args.corpus / "rows.json"
    if args.reuse and previous.exists():
        old = {r["truth"]["file"]: r for r in json.loads(previous.read_text())}
        for row in rows:
            for name, value in old.get(row["truth"]["file"], {}).items():
                row.setdefault(name, value)
        methods = tuple(dict.fromkeys([*methods, "backbeat", "librosa", "essentia"]))
        methods = tuple(m for m in methods if any(m in r for r in rows))
    previous.write_text(json.dumps(rows))
    results = {m: score(rows, m) for m in methods}
    (args.corpus / "results.json").write_text(json.dumps(results, indent=2))
    if args.json:
        print(json.dumps(results, indent=2))
        return
    metrics = sorted({k for r in results.values() for k in r})
    print(f"{'metric':34}" + "".join(f"{m:>12}" for m in methods))
    for metric in metrics:
        cells = []
        for m in methods:
            value = results[m].get(metric)
            cells.append(f"{'n/a':>12}" if value is None else f"{value:12.3f}")
        print(f"{metric:34}" + "".join(cells))


if __name__ == "__main__":
    main()
