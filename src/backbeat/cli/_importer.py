"""``backbeat import``: a JSON Lines manifest of tracks into the catalogue.

Each line is parsed and validated like ``POST /v1/tracks``'s ``metadata``; its
``audio`` file (relative to the manifest's folder) is streamed into the media store
(size limit, traversal-free content addresses). A bad line is reported with its
number, what is wrong, the file it names and the error code, then skipped.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from backbeat.cli._common import run_with_catalogue
from backbeat.errors import BackbeatError

__all__ = ["import_manifest", "line_problem"]


def line_problem(exc: BaseException) -> str:
    """One readable reason for a skipped line: message, file, code."""
    if isinstance(exc, BackbeatError):
        return f"{exc.message} [{exc.code}]"
    if isinstance(exc, FileNotFoundError):
        return f"audio file {exc.filename} not found [{type(exc).__name__}]"
    if isinstance(exc, OSError):
        reason = exc.strerror or str(exc)
        where = f": {exc.filename}" if exc.filename else ""
        return f"{reason}{where} [{type(exc).__name__}]"
    return f"{exc} [{type(exc).__name__}]"


def _metadata(entry: dict[str, Any]) -> Any:
    from pydantic import ValidationError as PydanticError

    from backbeat.catalogue import TrackMetadata
    from backbeat.validation import invalid_input

    try:
        return TrackMetadata.model_validate(entry)
    except PydanticError as exc:
        raise invalid_input(exc.errors()[0]) from None


def _read_lines(manifest: Path) -> list[tuple[int, str]]:
    try:
        text = manifest.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BackbeatError(
            "cli.manifest_missing",
            details={"path": str(manifest)},
            message="The manifest {path} does not exist.",
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BackbeatError(
            "cli.manifest_unreadable",
            details={"path": str(manifest), "reason": str(exc)},
            message="The manifest {path} cannot be read: {reason}.",
        ) from None
    return [(n, line) for n, line in enumerate(text.splitlines(), 1) if line.strip()]


def import_manifest(manifest: Path) -> tuple[int, int, int]:
    """Import every good line; ``(imported, analysis jobs queued, lines)``."""
    import anyio
    from rich.console import Console
    from rich.progress import Progress

    from backbeat.catalogue import RedisQueue
    from backbeat.settings import Settings

    settings = Settings.from_env()
    lines = _read_lines(manifest)
    errors = Console(stderr=True)

    async def work(catalogue: Any) -> tuple[int, int]:
        imported = queued = 0
        queue = RedisQueue(settings.redis_url, settings.queue_name) if settings.redis_url else None
        try:
            with Progress(console=errors, disable=not errors.is_terminal) as progress:
                task = progress.add_task("importing", total=len(lines))
                for number, line in lines:
                    progress.advance(task)
                    try:
                        entry = json.loads(line)
                        if not isinstance(entry, dict):
                            raise BackbeatError(
                                "validation.invalid",
                                details={"field": "line", "problem": "expected a JSON object"},
                                message="{field} is invalid: {problem}.",
                            )
                        audio = entry.pop("audio", None)
                        track = _metadata(entry)
                        stored = None
                        if audio:
                            source = (manifest.parent / str(audio)).resolve()
                            stored = await anyio.to_thread.run_sync(
                                catalogue.media.copy_file, source
                            )
                    except json.JSONDecodeError as exc:
                        errors.print(
                            f"line {number}: skipped: not valid JSON: {exc.msg} "
                            f"(column {exc.colno}) [validation.invalid]",
                            markup=False,
                            soft_wrap=True,
                        )
                        continue
                    except (OSError, BackbeatError) as exc:
                        errors.print(
                            f"line {number}: skipped: {line_problem(exc)}",
                            markup=False,
                            soft_wrap=True,
                        )
                        continue
                    if await catalogue.register(track, stored):
                        queued += 1
                        if queue is not None and stored is not None:
                            await queue.enqueue(track.id, stored.sha256)
                    imported += 1
        finally:
            if queue is not None:
                await queue.aclose()
        return imported, queued

    imported, queued = run_with_catalogue(work, audit=("catalogue.import", f"file:{manifest.name}"))
    return imported, queued, len(lines)
