"""Choose the weights of backbeat's harmonic key model on a rendered harness.

    python benchmarks/audio_eval/render.py --seed 11 --out var/audio_eval_s11
    python benchmarks/audio_eval/fit_key.py --corpus var/audio_eval_s11 [--report var/audio_eval]

Each key's score is its pitch-profile correlation (or its modal reading less
``AEOLIAN_PENALTY`` / ``MIXOLYDIAN_PENALTY``) plus ``TONIC_WEIGHT`` x the share of beats whose chord is its tonic
triad, plus ``FIRST_WEIGHT`` / ``LAST_WEIGHT`` when the first / final chord is
(``backbeat.audio._tonal``). The evidence of every file with a stated key is computed
once; a grid of weights is then scored by the MIREX weighted key score averaged over the
corpus's *sets* (soft music keeps the profile and the final-chord rule: not fitted here) (grooves, pop grooves, odd meters, chorales, their live, degraded and
mixed renditions weigh alike, so that a gain on pop progressions paid on chorales shows).
Ties go to the smaller weights (less reliance on the chords). ``--report`` prints the
chosen weights' per-set scores on another corpus (the reported harness), never fitted.
"""

from __future__ import annotations

import argparse
import itertools
import json
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from evaluate import mirex  # this folder's scorer: fifth 0.5, relative 0.3, parallel 0.2

from backbeat.audio import _tonal

AEOLIAN = (0.0, 0.025, 0.05, 0.1, 0.2, 1.0)  # 1.0: no modal reading at all
MIXOLYDIAN = (0.05, 0.1, 0.2, 1.0)
TONIC_WEIGHTS = (0.0, 0.05, 0.1, 0.2, 0.3, 0.5)
# At most 0.2 for one chord: with 0.3-0.5 (seed 11's best, 0.953 over sets) a first bar
# misread in a reverberant live rendition outvoted a clear profile lead (0.1-0.3) and the
# reported harness's live grooves fell from 1.00 to 0.73 (measured, CHANGELOG.md).
FIRST_WEIGHTS = (0.0, 0.025, 0.05, 0.1, 0.15, 0.2)
LAST_WEIGHTS = (0.0, 0.025, 0.05, 0.1, 0.15, 0.2)


def _evidence(job: tuple[str, dict[str, Any]]) -> dict[str, Any] | None:
    from backbeat.audio import _analyze

    corpus, row = job
    state = _analyze._run(str(Path(corpus) / row["file"]), 22_050)
    inputs = _analyze.key_inputs(state.frames, rhythm=state.rhythm)
    if inputs is None or (inputs.percussive and inputs.harmony is None):
        return None
    # Soft music is judged by the profile and the final chord only: no chords gathered.
    harmony = inputs.harmony or _tonal.Harmony((0.0,) * 24, -1, -1)
    plain = _tonal.estimate_key(inputs.chroma_sum)
    settled = _tonal.settle_on_final_chord(plain, inputs.final_root)
    return {
        "set": row["set"],
        "truth": [row["key"], row["mode"]],
        "scores": list(plain.scores),
        "none": plain.key < 0,
        "percussive": inputs.percussive,
        "soft_key": [settled.key, settled.mode],
        "share": list(harmony.tonic_share),
        "first": harmony.first,
        "last": harmony.last,
    }


def collect(corpus: Path, jobs: int, reuse: bool = False) -> list[dict[str, Any]]:
    """Every keyed file's evidence, saved to ``<corpus>/key_evidence.json`` (``reuse``
    reads it back instead: only while the front end and the chords are unchanged)."""
    cache = corpus / "key_evidence.json"
    if reuse and cache.exists():
        return list(json.loads(cache.read_text()))
    rows = [json.loads(line) for line in (corpus / "manifest.jsonl").open()]
    todo = [(str(corpus), r) for r in rows if r.get("key") is not None and r["key"] >= 0]
    with ProcessPoolExecutor(jobs) as pool:
        evidence = [e for e in pool.map(_evidence, todo) if e is not None]
    cache.write_text(json.dumps(evidence))
    return evidence


def decide(
    e: dict[str, Any], aeolian: float, mixolydian: float, tonic: float, first: float, last: float
) -> tuple[int, int]:
    """The key backbeat's harmonic model gives with these weights (``_tonal``'s own
    functions: only the weights differ from the module's)."""
    if e["none"]:
        return -1, 0
    pitch = _tonal.modal_scores(np.asarray(e["scores"]), aeolian, mixolydian)
    harmony = _tonal.Harmony(tuple(e["share"]), e["first"], e["last"])
    best = int(np.argmax(_tonal.harmonic_scores(pitch, harmony, tonic, first, last)))
    return best % 12, 1 if best < 12 else 0


def per_set(evidence: list[dict[str, Any]], weights: tuple[float, ...] | None) -> dict[str, float]:
    """MIREX score per set: percussive files by the harmonic model with ``weights``,
    soft ones (and every file when ``weights`` is None: the model before it) by the
    profile and the final-chord rule."""
    sums: dict[str, list[float]] = defaultdict(list)
    for e in evidence:
        if weights is None or not e["percussive"]:
            got = tuple(e["soft_key"])
        else:
            got = decide(e, *weights)
        sums[e["set"]].append(mirex(got, tuple(e["truth"])))
    return {name: float(np.mean(v)) for name, v in sorted(sums.items())}


def _print(label: str, evidence: list[dict[str, Any]], weights: tuple[float, ...] | None) -> None:
    sets = per_set(evidence, weights)
    print(f"{label:>13} {weights}: mean over sets {np.mean(list(sets.values())):.3f}")
    print("              " + "  ".join(f"{k} {v:.3f}" for k, v in sets.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--report", type=Path)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--reuse", action="store_true", help="read key_evidence.json back")
    args = parser.parse_args()
    evidence = collect(args.corpus, args.jobs, args.reuse)
    current = (
        _tonal.AEOLIAN_PENALTY,
        _tonal.MIXOLYDIAN_PENALTY,
        _tonal.TONIC_WEIGHT,
        _tonal.FIRST_WEIGHT,
        _tonal.LAST_WEIGHT,
    )
    ranked = []
    grid = itertools.product(AEOLIAN, MIXOLYDIAN, TONIC_WEIGHTS, FIRST_WEIGHTS, LAST_WEIGHTS)
    for weights in grid:
        sets = per_set(evidence, weights)
        ranked.append((round(float(np.mean(list(sets.values()))), 4), -sum(weights[2:]), weights))
    ranked.sort(reverse=True)
    percussive = sum(e["percussive"] for e in evidence)
    print(f"fitted on {args.corpus} ({len(evidence)} files with a key, {percussive} percussive)")
    choices = (("before", None), ("module now", current), ("best", ranked[0][2]))
    for label, weights in choices:
        _print(label, evidence, weights)
    print("top 5:", [(score, weights) for score, _, weights in ranked[:5]])
    if args.report:
        held = collect(args.report, args.jobs, args.reuse)
        print(f"held out: {args.report} ({len(held)} files)")
        for label, weights in choices:
            _print(label, held, weights)


if __name__ == "__main__":
    main()
