"""Batch analysis behind ``backbeat analyze``: find files, analyse them in a process pool.

Each file becomes one row: ``file`` (the path as given or found) and every
audio-features field, or ``file`` and an ``error`` object (``code``, ``message``)
when it cannot be analysed; one bad file never stops the batch.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from backbeat.audio._models import CONFIDENCE_FIELDS, SPOTIFY_FIELDS
from backbeat.errors import BackbeatError

__all__ = [
    "AUDIO_SUFFIXES",
    "FIELDS",
    "analyse_file",
    "find_audio",
    "format_rows",
    "key_name",
    "run",
]

AUDIO_SUFFIXES = frozenset(
    (
        ".wav",
        ".wave",
        ".flac",
        ".ogg",
        ".oga",
        ".opus",
        ".mp3",
        ".m4a",
        ".aac",
        ".mp4",
        ".aif",
        ".aiff",
        ".aifc",
        ".wma",
        ".webm",
        ".caf",
        ".w64",
    )
)
FIELDS = (*SPOTIFY_FIELDS, *CONFIDENCE_FIELDS)
PITCH_CLASSES = ("C", "C♯", "D", "E♭", "E", "F", "F♯", "G", "A♭", "A", "B♭", "B")


def key_name(key: int, mode: int) -> str:
    """``"A minor"``; ``"-"`` when no key was detected."""
    if key < 0:
        return "-"
    return f"{PITCH_CLASSES[key]} {'major' if mode == 1 else 'minor'}"


def find_audio(paths: Iterable[str]) -> Iterator[str]:
    """Files as given, and audio files under folders (recursively, sorted)."""
    for given in paths:
        path = Path(given)
        if path.is_dir():
            found = sorted(
                p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES
            )
            for p in found:
                yield os.path.join(given, os.path.relpath(p, path))
        else:
            yield given


def analyse_file(path: str) -> dict[str, Any]:
    """One row: the features, or an ``error`` object; never raises."""
    from backbeat.audio import analyze

    try:
        features = analyze(path)
    except BackbeatError as exc:
        return {"file": path, "error": {"code": exc.code, "message": exc.message}}
    except (OSError, ValueError, RuntimeError, MemoryError) as exc:
        return {
            "file": path,
            "error": {"code": "audio.analysis_failed", "message": type(exc).__name__},
        }
    row: dict[str, Any] = {"file": path}
    row.update({name: getattr(features, name) for name in FIELDS})
    return row


def run(paths: list[str], jobs: int = 1) -> Iterator[dict[str, Any]]:
    """Rows in input order; ``jobs > 1`` analyses in that many processes."""
    if jobs <= 1 or len(paths) <= 1:
        for path in paths:
            yield analyse_file(path)
        return
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        yield from pool.map(analyse_file, paths, chunksize=1)


def format_rows(rows: list[dict[str, Any]], fmt: str) -> str:
    """``jsonl`` or ``csv`` text for finished rows (the table is drawn by the CLI)."""
    if fmt == "jsonl":
        return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["file", *FIELDS, "error_code", "error_message"])
    for row in rows:
        error = row.get("error") or {}
        writer.writerow(
            [
                row["file"],
                *(row.get(f, "") for f in FIELDS),
                error.get("code", ""),
                error.get("message", ""),
            ]
        )
    return out.getvalue()
