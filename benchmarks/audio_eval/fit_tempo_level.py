"""Fit the metrical-level rule of backbeat's tempo estimator on rendered corpora.

    python benchmarks/audio_eval/render.py --seed 11 --out var/audio_eval_s11
    python benchmarks/audio_eval/render.py --seed 13 --out var/audio_eval_s13
    python benchmarks/audio_eval/fit_tempo_level.py \
        --corpus var/audio_eval_s11 --corpus var/audio_eval_s13 --exclude var/audio_eval

The comb's best period may be the beat, half of it or twice it. For octave
neighbours S and F = 2S, ``backbeat.audio._rhythm.level_evidence`` gives the log
comb ratio F/S and the alternation at F (weaker over stronger parity of the onset
strengths at beats tracked at F). Each groove and chorale gives two examples
with known answers: (truth/2, truth), where F is the beat, and (truth, 2 truth),
where S is. A logistic regression on the two pieces of evidence gives the rule
``ratio > SCALE * (ALTERNATION - alternation)``. The same is fitted for
F = 3S (a bar of three beats against its beats; alternation is then the weaker
two phases over the strongest). The constants are printed for ``LEVEL_RULES``
in ``_rhythm.py``.

Fit on corpora rendered with other seeds than the reported one, and pass the
reported corpus as ``--exclude``: chorales it contains are left out of the fit,
so the reported tempo accuracy is measured on pieces the rule never saw.
"""

from __future__ import annotations

import argparse
import json
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score

MUSIC = ("groove", "chorale")


def _truths(corpus: Path) -> list[dict[str, Any]]:
    lines = (corpus / "manifest.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def examples(args: tuple[Path, dict[str, Any]]) -> list[tuple[int, float, float, int]]:
    from backbeat.audio import _analyze
    from backbeat.audio._rhythm import level_evidence, onset_envelope, tempo_comb

    corpus, truth = args
    frames, _ = _analyze._front_end(str(corpus / truth["file"]), 22_050)
    onset, _ = onset_envelope(frames)
    comb = tempo_comb(onset, frames.frame_rate)
    if comb is None:
        return []
    out = []
    for factor in (2, 3):
        for slow, fast_is_beat in ((truth["tempo"] / factor, 1), (truth["tempo"], 0)):
            evidence = level_evidence(onset, frames.frame_rate, comb, slow, factor)
            if evidence is not None:
                out.append((factor, evidence[0], evidence[1], fast_is_beat))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--corpus", type=Path, action="append", required=True)
    parser.add_argument("--exclude", type=Path, action="append", default=[])
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    held_out = {t.get("source") for c in args.exclude for t in _truths(c) if t["set"] == "chorale"}
    if None in held_out:
        raise SystemExit("an --exclude manifest lacks chorale sources: re-run render.py on it")
    jobs = [
        (corpus, t)
        for corpus in args.corpus
        for t in _truths(corpus)
        if t["set"] in MUSIC and t.get("source") not in held_out
    ]
    with ProcessPoolExecutor(args.jobs) as pool:
        rows = [row for found in pool.map(examples, jobs, chunksize=4) for row in found]
    data = np.array(rows)
    report: dict[str, Any] = {"files": len(jobs), "excluded_chorales": len(held_out)}
    for factor in (2, 3):
        subset = data[data[:, 0] == factor]
        x, y = subset[:, 1:3], subset[:, 3].astype(int)
        model = LogisticRegression(C=10.0, max_iter=1000)
        accuracy = cross_val_score(model, x, y, cv=5).mean()
        model.fit(x, y)
        (w_ratio, w_alternation), bias = model.coef_[0], model.intercept_[0]
        report[f"factor {factor}"] = {
            "examples": len(y),
            "cv_accuracy": round(float(accuracy), 4),
            "rule (SCALE, ALTERNATION)": [
                round(float(w_alternation / w_ratio), 3),
                round(float(-bias / w_alternation), 3),
            ],
        }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
