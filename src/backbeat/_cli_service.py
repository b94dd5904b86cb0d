"""Service administration: ``backbeat apikey``, ``backbeat worker``, ``backbeat import``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from backbeat.errors import BackbeatError

__all__ = ["apikey_app", "import_catalogue", "with_store", "worker"]


apikey_app = typer.Typer(help="API keys of the service.", no_args_is_help=True)


def with_store(work: Any, audit: tuple[str, str] | None = None) -> Any:
    """Run ``work(store)`` against the configured database (migrated when embedded);
    ``audit=(action, resource)`` records the admin action in the audit trail."""
    import anyio

    from backbeat.server._store import Store
    from backbeat.settings import Settings
    from backbeat.toolkit import Toolkit

    async def run() -> Any:
        async with Toolkit(Settings.from_env()) as toolkit:
            if toolkit.settings.database_backend == "sqlite":
                toolkit.settings.data_dir.mkdir(parents=True, exist_ok=True)
                await toolkit.migrate()
            result = await work(Store(toolkit.database_engine()))
            if audit is not None:
                from backbeat.audit import AuditEvent

                action, resource = audit
                await toolkit.audit.record(
                    AuditEvent(action=action, actor="cli", resource=resource)
                )
            return result

    return anyio.run(run)


@apikey_app.command("create")
def apikey_create(
    name: Annotated[str, typer.Option(help="Who or what the key is for.")],
    scopes: Annotated[str, typer.Option(help="Comma-separated: read, write, admin.")] = "read",
) -> None:
    """Create a key; the key itself is printed once, alone on the last line."""
    from backbeat.server._auth import SCOPES, api_key_scheme

    wanted = frozenset(s.strip() for s in scopes.split(",") if s.strip())
    if not wanted or not wanted <= SCOPES:
        raise BackbeatError(
            "cli.apikey_scopes",
            details={"value": scopes},
            message="Unknown scopes {value}: use read, write and/or admin.",
        )
    new = api_key_scheme.generate()

    async def work(store: Any) -> None:
        await store.add_api_key(new.key_id, name, new.hash, wanted)

    with_store(work, audit=("apikey.create", f"apikey:{new.key_id}"))
    typer.echo(f"created key {new.key_id} ({name}; scopes {','.join(sorted(wanted))})", err=True)
    typer.echo(new.plaintext)


@apikey_app.command("list")
def apikey_list() -> None:
    """Keys by id, name, scopes and state (never the keys themselves)."""

    async def work(store: Any) -> Any:
        return await store.api_keys()

    for record in with_store(work):
        state = "revoked" if record.revoked_at else "active"
        scopes = ",".join(sorted(record.scopes))
        typer.echo(f"{record.key_id}  {state:7}  {scopes:16}  {record.name}")


@apikey_app.command("revoke")
def apikey_revoke(key_id: Annotated[str, typer.Argument(help="The key's id (see list).")]) -> None:
    """Revoke a key at once."""

    async def work(store: Any) -> bool:
        return bool(await store.revoke_api_key(key_id))

    if not with_store(work, audit=("apikey.revoke", f"apikey:{key_id}")):
        raise BackbeatError(
            "cli.apikey_unknown",
            details={"key_id": key_id},
            message="No active key {key_id}.",
        )
    typer.echo(f"revoked {key_id}")


def worker(
    once: Annotated[bool, typer.Option(help="Process the due jobs, then exit.")] = False,
) -> None:
    """Run analysis jobs from the database queue (any number of these, anywhere)."""
    import asyncio

    from backbeat.server._worker import AnalysisWorker
    from backbeat.settings import Settings

    settings = Settings.from_env()

    async def work(store: Any) -> int:
        runner = AnalysisWorker(store, settings, asyncio.Event())
        if settings.redis_url:
            # Jobs arrive on the Redis queue; first take over any left in the table
            # (queued before Redis was configured, or whose worker died).
            from backbeat.server._queue import run_redis_worker

            while await runner.run_once():
                pass
            await run_redis_worker(
                runner, settings.redis_url, burst=once, queue_name=settings.queue_name
            )
        elif once:
            while await runner.run_once():
                pass
        else:
            await runner.run()
        return runner.processed

    processed = with_store(work)
    typer.echo(f"processed {processed} job(s)")


def import_catalogue(
    manifest: Annotated[
        Path, typer.Argument(help="JSON Lines: one track object per line, with `audio` (a path).")
    ],
) -> None:
    """Bulk-import tracks and their audio into the catalogue (analysis jobs are queued).

    Each line is the ``metadata`` object of ``POST /v1/tracks`` plus ``audio``: a file
    path, relative to the manifest's folder. Bad lines are reported and skipped.
    """
    import asyncio
    import hashlib
    import json

    from pydantic import ValidationError as PydanticError
    from rich.console import Console
    from rich.progress import Progress

    from backbeat.server._tracks import TrackIn, _media_root, _place
    from backbeat.settings import Settings

    settings = Settings.from_env()
    lines = [x for x in manifest.read_text(encoding="utf-8").splitlines() if x.strip()]
    errors = Console(stderr=True)

    async def work(store: Any) -> tuple[int, int]:
        imported = queued = 0
        root = _media_root(settings)
        queue = None
        if settings.redis_url:
            from backbeat.server._queue import RedisQueue

            queue = RedisQueue(settings.redis_url, settings.queue_name)
        with Progress(console=errors, disable=not errors.is_terminal) as progress:
            task = progress.add_task("importing", total=len(lines))
            for number, line in enumerate(lines, 1):
                progress.advance(task)
                try:
                    entry = json.loads(line)
                    audio = entry.pop("audio", None)
                    track = TrackIn.model_validate(entry)
                    path = sha = None
                    if audio:
                        source = (manifest.parent / str(audio)).resolve()
                        data = await asyncio.to_thread(source.read_bytes)
                        sha = hashlib.sha256(data).hexdigest()
                        temp = root / "tmp" / f"import-{sha}"
                        await asyncio.to_thread(temp.write_bytes, data)
                        try:
                            path = await asyncio.to_thread(_place, temp, root, sha, source.name)
                        finally:
                            temp.unlink(missing_ok=True)
                except (json.JSONDecodeError, PydanticError, OSError, BackbeatError) as exc:
                    code = getattr(exc, "code", type(exc).__name__)
                    errors.print(f"line {number}: skipped [{code}]", markup=False, soft_wrap=True)
                    continue
                record = track.to_record(path, sha)
                if await store.upsert_track(record):
                    queued += 1
                    if queue is not None and sha is not None:
                        await queue.enqueue(track.id, sha)
                imported += 1
        if queue is not None:
            await queue.aclose()
        return imported, queued

    imported, queued = with_store(work, audit=("catalogue.import", f"file:{manifest.name}"))
    typer.echo(f"imported {imported} of {len(lines)} track(s); {queued} analysis job(s) queued")
    if lines and not imported:
        raise typer.Exit(1)
