"""Looking for a subject's ID everywhere backbeat keeps data (``verify-erasure``).

- the database: every text column of every table (``LIKE '%id%'``, wildcards escaped);
- Redis: keys matching ``*id*`` and string values of every key (``SCAN``, bounded);
- folders: every file's bytes (media, model files, the outbox, exports); inside ``.npz``
  model files, the decompressed members too;
- log files: their lines.

A hit is ``{"where", "what", "count"}``; none means erasure reached every copy.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = ["scan_everywhere"]

_MAX_FILE = 512 * 1024 * 1024


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def _database(subject: str, engine: AsyncEngine) -> list[dict[str, Any]]:
    hits: list[dict[str, Any]] = []
    pattern = f"%{_escape(subject)}%"

    def reflect(sync: Any) -> list[tuple[str, list[str]]]:
        inspector = sa.inspect(sync)
        out = []
        for table in inspector.get_table_names():
            columns = [
                c["name"]
                for c in inspector.get_columns(table)
                if isinstance(c["type"], sa.String | sa.Text)
            ]
            if columns:
                out.append((table, columns))
        return out

    async with engine.connect() as conn:
        tables = await conn.run_sync(reflect)
        for table, columns in tables:
            for column in columns:
                query = sa.text(
                    f'SELECT count(*) FROM "{table}" WHERE "{column}" LIKE :p ESCAPE \'\\\''  # noqa: S608 - reflected names
                )
                n = int((await conn.execute(query, {"p": pattern})).scalar_one())
                if n:
                    hits.append({"where": "database", "what": f"{table}.{column}", "count": n})
    return hits


async def _redis(subject: str, redis: Any, limit: int = 200_000) -> list[dict[str, Any]]:
    hits: list[dict[str, Any]] = []
    needle = subject.encode()
    keys = 0
    values = 0
    seen = 0
    async for key in redis.scan_iter(count=1000):
        seen += 1
        if seen > limit:
            break
        raw = key if isinstance(key, bytes) else str(key).encode()
        if needle in raw:
            keys += 1
            continue
        if await redis.type(key) in (b"string", "string"):
            value = await redis.get(key)
            if value is not None and needle in (
                value if isinstance(value, bytes) else str(value).encode()
            ):
                values += 1
    if keys:
        hits.append({"where": "redis", "what": "keys", "count": keys})
    if values:
        hits.append({"where": "redis", "what": "values", "count": values})
    return hits


def _file_hits(subject: str, path: Path) -> int:
    needle = subject.encode()
    try:
        if path.stat().st_size > _MAX_FILE:
            return 0
        data = path.read_bytes()
    except OSError:
        return 0
    count = data.count(needle)
    if path.suffix in (".npz", ".zip") and zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            for member in archive.namelist():
                count += archive.read(member).count(needle)
    return count


def _folders(subject: str, folders: Iterable[Path]) -> list[dict[str, Any]]:
    hits = []
    for folder in folders:
        if not folder.exists():
            continue
        paths = (
            [folder] if folder.is_file() else sorted(p for p in folder.rglob("*") if p.is_file())
        )
        for path in paths:
            if path.suffix in (".db", ".db-wal", ".db-shm", ".sqlite"):
                continue  # the database is scanned by its columns (freed pages are not data)
            n = _file_hits(subject, path)
            if n:
                hits.append({"where": "file", "what": str(path), "count": n})
    return hits


def _logs(subject: str, logs: Iterable[Path]) -> list[dict[str, Any]]:
    hits = []
    for path in logs:
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        n = sum(1 for line in text.splitlines() if subject in line)
        if n:
            hits.append({"where": "log", "what": str(path), "count": n})
    return hits


async def scan_everywhere(
    subject: str,
    engine: AsyncEngine,
    *,
    redis: Any = None,
    folders: Iterable[Path] = (),
    logs: Iterable[Path] = (),
) -> list[dict[str, Any]]:
    import anyio

    hits = await _database(subject, engine)
    if redis is not None:
        hits += await _redis(subject, redis)
    folder_list, log_list = list(folders), list(logs)
    hits += await anyio.to_thread.run_sync(lambda: _folders(subject, folder_list))
    hits += await anyio.to_thread.run_sync(lambda: _logs(subject, log_list))
    return hits
