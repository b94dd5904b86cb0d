"""Batch analysis behind ``backbeat analyze``: find files, analyse them in a process pool
or on a Dask cluster.

Each file becomes one row: ``file`` (the path as given or found) and every
audio-features field, or ``file`` and an ``error`` object (``code``, ``message``)
when it cannot be analysed; one bad file never stops the batch.

On a cluster (:func:`run_distributed`), every worker must have backbeat installed and
see the files at the same absolute paths (a shared or synced folder); rows come back
as they finish, identical to a local run's.
"""

from __future__ import annotations

import csv
import importlib
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
    "done_files",
    "find_audio",
    "format_rows",
    "key_name",
    "run",
    "run_distributed",
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


def analyse_file(path: str, read_from: str | None = None) -> dict[str, Any]:
    """One row: the features, or an ``error`` object; never raises. ``read_from``: where
    to open it when that differs from the path the row names (a worker's absolute path)."""
    from backbeat.audio import analyze

    try:
        features = analyze(read_from or path)
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


def run_distributed(
    paths: list[str], address: str, *, connect_timeout_s: float = 10.0
) -> Iterator[dict[str, Any]]:
    """Rows as they finish, analysed on the Dask cluster whose scheduler is ``address``."""
    try:  # untyped: held as Any
        dask: Any = importlib.import_module("distributed")
    except ImportError:
        raise BackbeatError(
            "audio.cluster_unavailable",
            details={"extra": "backbeat[cluster]"},
            message="Analysis on a cluster needs Dask's distributed: install {extra}.",
        ) from None
    try:
        client = dask.Client(address, timeout=f"{connect_timeout_s}s")
    except (OSError, TimeoutError, ValueError) as exc:
        raise BackbeatError(
            "audio.scheduler_unreachable",
            details={"address": address, "cause": type(exc).__name__},
            message="No Dask scheduler answered at {address} ({cause}).",
        ) from None
    try:
        absolute = [os.path.abspath(p) for p in paths]
        futures = client.map(analyse_file, paths, absolute, pure=False)
        named = {future.key: path for future, path in zip(futures, paths, strict=True)}
        for future in dask.as_completed(futures):
            try:
                row: dict[str, Any] = future.result()
            except Exception as exc:  # a worker died or could not run the task
                row = {
                    "file": named[future.key],
                    "error": {"code": "audio.analysis_failed", "message": type(exc).__name__},
                }
            yield row
    finally:
        client.close()


def done_files(output: Path) -> set[str]:
    """Files that already have a row in ``output`` (JSON Lines or CSV), for a resumed
    run; a line cut short by an interrupted run is ignored (its file runs again)."""
    if not output.exists():
        return set()
    text = output.read_text(encoding="utf-8")
    if output.suffix.lower() == ".csv":
        rows = list(csv.reader(io.StringIO(text)))
        return {r[0] for r in rows[1:] if r and len(r) >= 2}
    done = set()
    for line in text.splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict) and isinstance(row.get("file"), str):
            done.add(row["file"])
    return done


def format_rows(rows: list[dict[str, Any]], fmt: str, *, header: bool = True) -> str:
    """``jsonl`` or ``csv`` text for finished rows (the table is drawn by the CLI)."""
    if fmt == "jsonl":
        return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    if header:
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
