"""Reading listening events from CSV, JSON Lines or Parquet files.

Columns / keys: ``user``, ``item`` (or ``track``), ``timestamp`` (epoch seconds
or ISO 8601), and optionally ``kind`` (play, skip, like, save, playlist_add;
default play), ``ms_played``, ``duration_ms``. A bad row raises
``ValidationError`` (``validation.events_file``) naming the file and line;
nothing is skipped silently. Parquet files (pyarrow, in the ``ml`` extra) are read
one row group at a time, so large logs stream; "line" then counts rows from 1.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from backbeat.errors import ValidationError
from backbeat.recommend._data import EventKind, Interaction

__all__ = ["iter_events", "load_events"]


def _bad(path: Path, line: int, reason: str) -> ValidationError:
    return ValidationError(
        "validation.events_file",
        details={"path": str(path), "line": line, "reason": reason},
        message="{path}, line {line}: {reason}.",
    )


def _bad_file(path: Path, reason: str) -> ValidationError:
    """A problem with the file as a whole (no line to point at)."""
    return ValidationError(
        "validation.events_file",
        details={"path": str(path), "reason": reason},
        message="{path}: {reason}.",
    )


def _timestamp(value: Any) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    text = str(value).strip()
    try:
        return float(text)
    except ValueError:
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=dt.UTC)
        return parsed.timestamp()


def _optional_int(value: Any) -> int | None:
    if value is None or value == "":
        return None
    return int(float(value))


def _row(path: Path, line: int, row: Mapping[str, Any]) -> Interaction:
    try:
        user = str(row["user"]).strip()
        item = str(row.get("item") or row["track"]).strip()
        if not user or not item:
            raise ValueError("empty user or item")
        kind = EventKind(str(row.get("kind") or "play").strip().lower())
        return Interaction(
            user,
            item,
            _timestamp(row["timestamp"]),
            kind,
            _optional_int(row.get("ms_played")),
            _optional_int(row.get("duration_ms")),
        )
    except KeyError as e:
        raise _bad(path, line, f"missing column {e.args[0]}") from None
    except (ValueError, TypeError) as e:
        raise _bad(path, line, str(e)[:120]) from None


def load_events(path: str | Path) -> list[Interaction]:
    """Every event of a ``.csv``, ``.jsonl`` or ``.parquet`` file, in file order."""
    return list(iter_events(path))


def _parquet(p: Path) -> Iterator[Interaction]:
    try:
        import pyarrow.parquet as pq
    except ImportError as e:  # pragma: no cover - pyarrow ships with the ml extra
        raise _bad_file(p, "reading Parquet needs pyarrow (pip install 'backbeat[ml]')") from e
    if not p.is_file():
        raise _bad_file(p, "no such file")
    try:
        parquet = pq.ParquetFile(p)
    except (OSError, ValueError) as e:
        raise _bad_file(p, f"not a Parquet file ({e})") from e
    line = 0
    for batch in parquet.iter_batches(batch_size=65_536):
        for row in batch.to_pylist():
            line += 1
            yield _row(p, line, row)


def iter_events(path: str | Path) -> Iterator[Interaction]:
    p = Path(path)
    if p.suffix.lower() == ".parquet":
        yield from _parquet(p)
        return
    suffix = p.suffix.lower()
    if suffix not in (".jsonl", ".ndjson", ".csv"):
        raise _bad_file(p, "use a .csv, .jsonl or .parquet file")
    try:
        handle = p.open(newline="", encoding="utf-8")
    except FileNotFoundError as e:
        raise _bad_file(p, "no such file") from e
    except OSError as e:
        raise _bad_file(p, f"cannot open it ({e.strerror or type(e).__name__})") from e
    with handle:
        if p.suffix.lower() in (".jsonl", ".ndjson"):
            for line, text in enumerate(handle, start=1):
                if not text.strip():
                    continue
                try:
                    row = json.loads(text)
                except json.JSONDecodeError as e:
                    raise _bad(p, line, f"not JSON ({e.msg}, column {e.colno})") from None
                if not isinstance(row, dict):
                    raise _bad(p, line, "not a JSON object")
                yield _row(p, line, row)
        elif p.suffix.lower() == ".csv":
            for line, row in enumerate(csv.DictReader(handle), start=2):
                yield _row(p, line, row)
