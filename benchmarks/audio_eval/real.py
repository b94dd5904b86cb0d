"""Build the *real-material* development corpus: music nobody here made, rebuilt offline.

    python benchmarks/audio_eval/real.py --out var/audio_real [--bars 40] [--jobs 2]
    python benchmarks/audio_eval/evaluate.py --corpus var/audio_real

Sources (each row of ``manifest.jsonl`` names its source, licence and what its reference
is worth):

- ``lmms_demo`` / ``lmms_shorty``: the demo songs of real producers that Debian's
  ``lmms-common`` ships (``/usr/share/lmms/projects``), rendered with Debian's ``lmms``.
  Reference: the tempo and time signature *stated by the producer* as the project's
  settings (the grid the song was written on). Songs with tempo automation are left out
  (their stated tempo is not the tempo heard). Each song is cut to its first ``--bars``
  bars (patterns starting later are dropped) to bound rendering time. Licences come from
  the package's ``debian/copyright`` (GPL-2+, Artistic-2, BSD-2-clause, CC-BY-SA-3).
- ``hydrogen_demo``: the demo songs of Debian's ``hydrogen-data`` (drum-machine songs by
  their authors, GPL-2+ by the package's copyright file), each on the drum kit it names,
  rendered with Hydrogen's ``h2cli``. Reference: the song's stated tempo (its ``bpm``);
  Hydrogen songs are on a 4/4 grid of 192 ticks per bar, cut to the first ``--bars`` bars.
- ``hydrogen_kits``: the same songs played on other kits of ``hydrogen-drumkits``
  (licences per kit in that package's copyright file): the same patterns and tempo with
  other sounds, a check that a result does not hang on one kit's timbre. Not independent
  of ``hydrogen_demo``: report them apart.

What a stated project tempo is worth: it is the producer's grid, so a half-time or
double-time *feel* is still scored against the grid; ACC2 (octave errors allowed) is
reported beside ACC1 for that reason. No human annotated these files; recorded clips
with human beat annotations are not packaged in Debian or PyPI in a form this script
can fetch (madmom's and Essentia's test recordings are not in their source releases).
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

PROJECTS = Path("/usr/share/lmms/projects")
SONGS = Path("/usr/share/hydrogen/data/demo_songs")
HYDROGEN = "hydrogen-data 1.2.0~beta1+dfsg-1 (Debian bookworm)"
# Other kits for the hydrogen_kits renditions: an analogue drum machine, an electro kit, the
# General MIDI rock kit (each song gets the ones that are not its own). Kits whose
# instrument layout differs from the songs' (Millo_MultiLayered3 was tried) leave most
# notes silent: such a rendition is not the song any more.
OTHER_KITS = ("TR808EmulationKit", "HardElectro1", "GMRockKit")
COPYRIGHT = Path("/usr/share/doc/lmms-common/copyright")
PACKAGE = "lmms-common 1.2.2+dfsg1-6 (Debian bookworm)"
TICKS_PER_WHOLE = 192  # LMMS: 192 ticks per 4/4 bar
RENDER = ("-f", "wav", "-x", "1", "-i", "linear")  # 44.1 kHz, 16-bit; speed over polish
ENV = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}


def licences() -> list[tuple[list[str], str]]:
    """(file patterns, licence) stanzas of the package's DEP-5 copyright file."""
    if not COPYRIGHT.exists():
        return []
    stanzas, patterns, in_files = [], [], False
    for line in COPYRIGHT.read_text().splitlines():
        if line.startswith("Files:"):
            patterns, in_files = line.split(":", 1)[1].split(), True
        elif in_files and line.startswith(" ") and not line.strip().startswith("."):
            if ":" not in line:
                patterns += line.split()
        elif line.startswith("License:") and patterns:
            stanzas.append((patterns, line.split(":", 1)[1].strip()))
            patterns, in_files = [], False
        elif not line.startswith(" "):
            in_files = False
    return stanzas


def licence_of(relative: str, stanzas: list[tuple[list[str], str]]) -> str:
    found = "GPL-2+ (the package's default stanza)"
    for patterns, name in stanzas:
        if any(fnmatch.fnmatch(f"data/projects/{relative}", p) for p in patterns):
            found = name
    return found


def project_xml(path: Path) -> ET.Element:
    if path.suffix == ".mmpz":
        dumped = subprocess.run(
            ["lmms", "--allowroot", "dump", str(path)],
            capture_output=True,
            text=True,
            env=ENV,
            timeout=120,
            check=True,
        ).stdout
        return ET.fromstring(dumped[dumped.index("<?xml") :] if "<?xml" in dumped else dumped)
    return ET.parse(path).getroot()


def has_tempo_automation(root: ET.Element) -> bool:
    head = root.find("head")
    if head is not None and head.find("bpm") is not None:
        bpm = head.find("bpm")
        if bpm is not None and bpm.get("id"):  # an automated tempo model
            ident = bpm.get("id")
            return any(o.get("id") == ident for o in root.iter("object"))
    return False


def truncate(root: ET.Element, limit_ticks: int) -> None:
    """Drop every pattern/clip that starts at or after ``limit_ticks``."""
    for parent in root.iter():
        for child in list(parent):
            pos = child.get("pos")
            clip = child.tag in {"pattern", "bbtco", "sampletco", "automationpattern"}
            if clip and pos and int(pos) >= limit_ticks:
                parent.remove(child)


def render(job: tuple[Path, Path, int]) -> dict[str, Any] | None:
    source, out_dir, bars = job
    relative = str(source.relative_to(PROJECTS))
    try:
        root = project_xml(source)
    except (subprocess.SubprocessError, ET.ParseError, ValueError):
        return {"skipped": relative, "why": "could not read the project"}
    head = root.find("head")
    if head is None or head.get("bpm") is None:
        return {"skipped": relative, "why": "no stated tempo"}
    if has_tempo_automation(root):
        return {"skipped": relative, "why": "tempo automation"}
    bpm = float(head.get("bpm", "0"))
    numerator = int(head.get("timesig_numerator", "4"))
    denominator = int(head.get("timesig_denominator", "4"))
    truncate(root, bars * TICKS_PER_WHOLE * numerator // denominator)
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", source.stem)
    project = out_dir / "_projects" / f"{name}.mmp"
    project.parent.mkdir(parents=True, exist_ok=True)
    project.write_text(ET.tostring(root, encoding="unicode"))
    wav = out_dir / f"{name}.wav"
    command = ["lmms", "--allowroot", "render", str(project), *RENDER, "-o", str(wav)]
    try:
        if not wav.exists():  # a re-run renders only what is missing
            subprocess.run(command, capture_output=True, env=ENV, timeout=600, check=True)
    except (subprocess.SubprocessError, OSError):
        return {"skipped": relative, "why": "lmms could not render it"}
    if not wav.exists() or wav.stat().st_size < 44_100 * 4:
        return {"skipped": relative, "why": "empty render"}
    return {
        "file": wav.name,
        "set": "lmms_shorty" if relative.startswith("shorties/") else "lmms_demo",
        "tempo": bpm,
        "meter": numerator if denominator == 4 else None,
        "key": None,
        "mode": None,
        "source": f"{PACKAGE}: projects/{relative} (first {bars} bars)",
        "author": source.stem.split("-")[0],
        "reference": "tempo and meter stated by the producer (project settings)",
        "beat_grid": True,  # rendered from tick 0 at a constant tempo: beats at k x 60/tempo
    }


def render_hydrogen(job: tuple[Path, Path, int, str | None]) -> dict[str, Any]:
    """One Hydrogen demo song, cut to ``bars`` bars, on its own kit or on ``kit``."""
    source, out_dir, bars, kit = job
    tree = ET.parse(source)
    root = tree.getroot()
    bpm = root.findtext("bpm")
    sequence = root.find("patternSequence")
    if bpm is None or sequence is None:
        return {"skipped": source.name, "why": "no stated tempo or no song sequence"}
    for group in list(sequence)[bars:]:
        sequence.remove(group)
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", source.stem) + (f"__{kit}" if kit else "")
    song = out_dir / "_projects" / f"{name}.h2song"
    song.parent.mkdir(parents=True, exist_ok=True)
    tree.write(song)
    wav = out_dir / f"{name}.wav"
    command = ["h2cli", "-s", str(song), "-o", str(wav), *(("-k", kit) if kit else ())]
    try:
        if not wav.exists():  # a re-run renders only what is missing
            subprocess.run(command, capture_output=True, env=ENV, timeout=600, check=False)
    except (subprocess.SubprocessError, OSError):
        return {"skipped": name, "why": "h2cli could not render it"}
    if not wav.exists() or wav.stat().st_size < 44_100 * 4:
        return {"skipped": name, "why": "empty render"}
    own = root.findtext(".//instrument/drumkit") or "unknown"
    return {
        "file": wav.name,
        "set": "hydrogen_kits" if kit else "hydrogen_demo",
        "tempo": float(bpm),
        "meter": 4,
        "key": None,
        "mode": None,
        "source": f"{HYDROGEN}: demo_songs/{source.name} (first {bars} bars, kit {kit or own})",
        "author": root.findtext("author") or "unknown",
        "reference": "tempo stated by the song's author (song settings)",
        "beat_grid": True,
        # The song ends after its bars; what follows is the kit's ring-out, no beats.
        "grid_end_s": round(min(bars, len(list(sequence))) * 4 * 60.0 / float(bpm), 3),
        "licence": "GPL-2+" if not kit else f"kit {kit}: see hydrogen-drumkits' copyright",
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=Path("var/audio_real"))
    parser.add_argument("--bars", type=int, default=40)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    if shutil.which("lmms") is None or not PROJECTS.exists():
        raise SystemExit("needs Debian's lmms and lmms-common: make eval-deps")
    args.out.mkdir(parents=True, exist_ok=True)
    sources = sorted(
        p
        for folder in ("demos", "shorties")
        for p in (PROJECTS / folder).rglob("*")
        if p.suffix in {".mmp", ".mmpz"}
    )
    stanzas = licences()
    songs = sorted(SONGS.glob("*.h2song")) if shutil.which("h2cli") else []
    if not songs:
        print("hydrogen's h2cli or demo songs missing (make eval-deps): lmms songs only")
    hydrogen_jobs = [
        (song, args.out, args.bars, kit)
        for song in songs
        for kit in (None, *(k for k in OTHER_KITS if k not in song.read_text()))
    ]
    with ProcessPoolExecutor(args.jobs) as pool:
        results = list(pool.map(render, [(s, args.out, args.bars) for s in sources]))
    # h2cli idles ~20 s (looking for an audio driver) before a fast export: run many at once.
    with ProcessPoolExecutor(max(args.jobs, 8)) as pool:
        hydrogen = list(pool.map(render_hydrogen, hydrogen_jobs))
    rows, skipped = [], []
    for source, result in zip(sources, results, strict=True):
        if result is None or "skipped" in result:
            skipped.append(result)
            continue
        result["licence"] = licence_of(str(source.relative_to(PROJECTS)), stanzas)
        rows.append(result)
    for result in hydrogen:
        (skipped if "skipped" in result else rows).append(result)
    (args.out / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (args.out / "skipped.json").write_text(json.dumps(skipped, indent=1))
    print(f"{len(rows)} songs rendered into {args.out}; {len(skipped)} left out:")
    for item in skipped:
        if item:
            print(f"  {item['skipped']}: {item['why']}")


if __name__ == "__main__":
    main()
