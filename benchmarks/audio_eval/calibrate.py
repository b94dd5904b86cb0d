"""Fit the calibration of backbeat's [0, 1] descriptors on the rendered and the real corpus.

    python benchmarks/audio_eval/render.py --out var/audio_eval
    python benchmarks/audio_eval/real.py --out var/audio_real
    python benchmarks/audio_eval/calibrate.py --corpus var/audio_eval --real var/audio_real \
        [--write src/backbeat/audio/calibration.json]

Logistic models (scikit-learn, L2, standardised inputs) give probabilities for
the labelled descriptors; 5-fold cross-validated AUC is printed and stored with
each model. Danceability, energy and valence are graded scales with stated anchors
(``GRADED`` in ``backbeat/audio/_descriptors.py``), not fitted here.

Fitted on rendered music alone, speechiness and instrumentalness called drum-machine
and electronic songs speech (median speechiness 1.00 on Hydrogen's demos, 0.85 on lmms's):
drums share speech's cues (pauses between attacks, a changing spectrum, no stable
pitch), and the harness's music always has a chord instrument. The real corpus's Hydrogen
songs (``--real``: drum machines, no voice in any of their sounds) join the music side of
both models; the lmms songs stay out of the fit and are reported as held-out material.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict

MUSIC = ("groove", "chorale")
# Real songs known to hold no voice: Hydrogen is a drum machine (real.py's sources).
DRUM_MACHINE = ("hydrogen_demo", "hydrogen_kits")
# Real songs outside the fit, whose descriptors are printed as a held-out check.
HELD_OUT = ("lmms_demo", "lmms_shorty")
# Speech/voice cues: syllabic modulation, pauses, voiced/unvoiced alternation, unstable pitch.
VOICE_FEATURES = [
    "modulation_4hz",
    "low_energy",
    "zcr_std",
    "centroid_std",
    "chroma_stability",
    "pitch_salience",
    "level_std",
    "flatness",
]

LOGISTIC: dict[str, dict[str, Any]] = {
    "speechiness": {
        "features": VOICE_FEATURES,
        "positive": lambda t: t["set"] == "speech",
        "negative": lambda t: t["set"] in (*MUSIC, *DRUM_MACHINE),
        "data": "espeak-ng speech (positive) vs grooves, chorales and Hydrogen's "
        "drum-machine songs (negative)",
    },
    "instrumentalness": {
        "features": VOICE_FEATURES,
        "positive": lambda t: t["set"] in (*MUSIC, *DRUM_MACHINE),
        "negative": lambda t: t["set"] in ("mix", "speech"),
        "data": "grooves, chorales and Hydrogen's drum-machine songs (positive) vs the "
        "rendered music with a voice over it, and speech",
    },
    "acousticness": {
        "features": [
            "flatness",
            "centroid",
            "mfcc1",
            "mfcc2",
            "mfcc3",
            "mfcc4",
            "treble_share",
            "bass_share",
            "zcr",
        ],
        "positive": lambda t: t["set"] in MUSIC and t["acoustic"] == 1,
        "negative": lambda t: t["set"] in MUSIC and t["acoustic"] == 0,
        "data": "grooves on acoustic GM programs and chorales (positive) vs grooves on synth programs",
    },
    "liveness": {
        "features": [
            "low_energy",
            "level_std",
            "flatness",
            "loudness_range",
            "chroma_stability",
            "centroid_std",
            "treble_share",
        ],
        "positive": lambda t: t["set"].startswith("live_"),
        "negative": lambda t: t["set"] in MUSIC,
        "data": "renders with hall reverberation (RT60 1.8 s) and crowd noise (positive) vs dry renders",
    },
}

#: Energy and valence (and danceability) are graded scales with stated anchors, not
#: fitted here: GRADED in backbeat/audio/_descriptors.py.
QUANTILE: dict[str, dict[str, Any]] = {}


def raw_of(path: str) -> dict[str, float]:
    from backbeat.audio import _analyze
    from backbeat.audio._descriptors import raw_features

    state = _analyze._run(path, 22_050)
    return raw_features(state.frames, state.rhythm, state.key, state.loudness, state.loudness_range)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--corpus", type=Path, default=Path("var/audio_eval"))
    parser.add_argument(
        "--real", type=Path, help="the real corpus (real.py): its drum-machine songs join the fit"
    )
    parser.add_argument("--write", type=Path)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    truths = [json.loads(x) for x in (args.corpus / "manifest.jsonl").read_text().splitlines() if x]
    truths = [{**t, "path": str(args.corpus / t["file"])} for t in truths if t["set"] != "silence"]
    if args.real is not None:
        lines = (args.real / "manifest.jsonl").read_text().splitlines()
        truths += [{**t, "path": str(args.real / t["file"])} for t in map(json.loads, lines)]
    with ProcessPoolExecutor(args.jobs) as pool:
        raws = list(pool.map(raw_of, [t["path"] for t in truths], chunksize=2))
    models: dict[str, Any] = {}
    for name, spec in LOGISTIC.items():
        rows = [(r, 1) for t, r in zip(truths, raws) if spec["positive"](t)]
        rows += [(r, 0) for t, r in zip(truths, raws) if spec["negative"](t)]
        x = np.array([[r[f] for f in spec["features"]] for r, _ in rows], dtype=np.float64)
        y = np.array([label for _, label in rows])
        mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-9
        z = (x - mean) / scale
        model = LogisticRegression(C=1.0, max_iter=1000)
        folds = StratifiedKFold(5, shuffle=True, random_state=0)
        cv = cross_val_predict(model, z, y, cv=folds, method="predict_proba")[:, 1]
        model.fit(z, y)
        models[name] = {
            "kind": "logistic",
            "features": spec["features"],
            "mean": mean.round(6).tolist(),
            "scale": scale.round(6).tolist(),
            "coef": model.coef_[0].round(6).tolist(),
            "intercept": round(float(model.intercept_[0]), 6),
            "data": spec["data"],
            "n": {"positive": int(y.sum()), "negative": int(len(y) - y.sum())},
            "cv_auc": round(float(roc_auc_score(y, cv)), 4),
        }
        print(f"{name:18} logistic  n={len(y):4d}  5-fold AUC {models[name]['cv_auc']:.3f}")
        held = [r for t, r in zip(truths, raws) if t["set"] in HELD_OUT]
        if held:
            xh = (np.array([[r[f] for f in spec["features"]] for r in held]) - mean) / scale
            p = model.predict_proba(xh)[:, 1]
            print(
                f"{'':18} held out: {len(held)} lmms songs, median {np.median(p):.2f}, "
                f"above 0.5: {np.mean(p > 0.5):.2f}"
            )
    music = [
        r
        for t, r in zip(truths, raws)
        if t["set"] in (*MUSIC, "mix") or t["set"].startswith("live_")
    ]
    for name, spec in QUANTILE.items():
        features = list(spec["weights"])
        x = np.array([[r[f] for f in features] for r in music], dtype=np.float64)
        mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-9
        coef = np.array([spec["weights"][f] for f in features])
        scores = ((x - mean) / scale) @ coef
        quantiles = np.percentile(scores, np.linspace(0, 100, 21))
        models[name] = {
            "kind": "quantile",
            "features": features,
            "mean": mean.round(6).tolist(),
            "scale": scale.round(6).tolist(),
            "coef": coef.tolist(),
            "intercept": 0.0,
            "quantiles": np.maximum.accumulate(quantiles).round(6).tolist(),
            "data": spec["data"],
            "n": len(music),
        }
        print(f"{name:18} quantile  n={len(music):4d}")
    counts: dict[str, int] = {}
    held_out: dict[str, int] = {}
    for t in truths:
        into = held_out if t["set"] in HELD_OUT else counts
        into[t["set"]] = into.get(t["set"], 0) + 1
    document = {
        "about": "Calibration of backbeat's [0, 1] audio descriptors; regenerate with "
        "benchmarks/audio_eval/calibrate.py (see backbeat/audio/_descriptors.py).",
        "corpus": {
            "generator": "benchmarks/audio_eval/render.py --seed 7"
            + (", benchmarks/audio_eval/real.py (Hydrogen's songs)" if args.real else ""),
            "files": counts,
            "held_out": held_out,
        },
        "created": dt.date.today().isoformat(),
        "descriptors": models,
        "graded": "danceability, energy and valence are graded scales with stated anchors: "
        "GRADED in backbeat/audio/_descriptors.py (not fitted here)",
    }
    text = json.dumps(document, indent=1) + "\n"
    if args.write:
        args.write.write_text(text)
        print(f"wrote {args.write}")
    else:
        print(text)


if __name__ == "__main__":
    main()
