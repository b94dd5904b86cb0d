"""Service administration: ``backbeat apikey``, ``backbeat worker``, ``backbeat import``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer

from backbeat.cli._common import run_with_catalogue
from backbeat.errors import BackbeatError

__all__ = ["apikey_app", "import_catalogue", "worker"]


apikey_app = typer.Typer(help="API keys of the service.", no_args_is_help=True)


@apikey_app.command("create")
def apikey_create(
    name: Annotated[str, typer.Option(help="Who or what the key is for.")],
    scopes: Annotated[
        str, typer.Option(help="Comma-separated: read, write, billing, admin.")
    ] = "read",
) -> None:
    """Create a key; the key itself is printed once, alone on the last line."""
    from backbeat.server import SCOPES, api_key_scheme

    wanted = frozenset(s.strip() for s in scopes.split(",") if s.strip())
    if not wanted or not wanted <= SCOPES:
        raise BackbeatError(
            "cli.apikey_scopes",
            details={"value": scopes, "allowed": ", ".join(sorted(SCOPES))},
            message="Unknown scopes {value}: use one or more of {allowed}.",
        )
    new = api_key_scheme.generate()

    async def work(catalogue: Any) -> None:
        await catalogue.api_keys.add(new.key_id, name, new.hash, wanted)

    run_with_catalogue(work, audit=("apikey.create", f"apikey:{new.key_id}"))
    typer.echo(f"created key {new.key_id} ({name}; scopes {','.join(sorted(wanted))})", err=True)
    typer.echo(new.plaintext)


@apikey_app.command("list")
def apikey_list() -> None:
    """Keys by id, name, scopes and state (never the keys themselves)."""

    async def work(catalogue: Any) -> Any:
        return await catalogue.api_keys.list()

    for record in run_with_catalogue(work):
        state = "revoked" if record.revoked_at else "active"
        scopes = ",".join(sorted(record.scopes))
        typer.echo(f"{record.key_id}  {state:7}  {scopes:16}  {record.name}")


@apikey_app.command("revoke")
def apikey_revoke(key_id: Annotated[str, typer.Argument(help="The key's id (see list).")]) -> None:
    """Revoke a key at once."""

    async def work(catalogue: Any) -> bool:
        return bool(await catalogue.api_keys.revoke(key_id))

    revoked = run_with_catalogue(
        work,
        audit=("apikey.revoke", f"apikey:{key_id}"),
        failed=lambda done: None if done else "cli.apikey_unknown",
    )
    if not revoked:
        raise BackbeatError(
            "cli.apikey_unknown",
            details={"key_id": key_id},
            message="No active key {key_id} (see `backbeat apikey list`).",
        )
    typer.echo(f"revoked {key_id}")


def worker(
    once: Annotated[bool, typer.Option(help="Process the due jobs, then exit.")] = False,
) -> None:
    """Run analysis and training jobs (from Redis when REDIS_URL is set, else the table).

    Logs a line when it starts, one per job and its totals when it stops; run as
    many as you like, on any machine that reaches the database and the media folder.
    """
    from backbeat.catalogue import AnalysisWorker, Trainer, run_redis_worker
    from backbeat.cli._logging import configure_logging
    from backbeat.recommend import ModelRegistry
    from backbeat.settings import Settings

    settings = Settings.from_env()
    configure_logging(settings.log_level, "text")

    async def work(catalogue: Any) -> int:
        mode = "redis" if settings.redis_url else "database"
        registry = ModelRegistry(settings.data_dir / "models")  # the one `serve` reads
        trainer = Trainer(catalogue.training, catalogue.events, registry)
        hooks = {}
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            # Beside `serve` on this host: its /metrics reports this worker's analyses too.
            from backbeat.monitoring import ServiceMetrics

            metrics = ServiceMetrics()
            hooks = {
                "on_outcome": metrics.observe_analysis,
                "on_realtime": metrics.observe_realtime,
            }
        from backbeat.server import stream_packager

        runner = AnalysisWorker(
            catalogue.jobs,
            catalogue.tracks,
            catalogue.media,
            mode=mode,
            training=trainer,
            packager=stream_packager(settings),
            **hooks,  # type: ignore[arg-type]
        )
        if once:
            await runner.start()
            try:
                # First take over any job left in the table (queued before Redis was
                # configured, or whose worker died), then the Redis queue.
                await runner.drain()
                if settings.redis_url:
                    await run_redis_worker(
                        runner, settings.redis_url, burst=True, queue_name=settings.queue_name
                    )
            finally:
                await runner.stop()
        elif settings.redis_url:
            await runner.start()
            try:
                await runner.drain()
                await run_redis_worker(
                    runner, settings.redis_url, burst=False, queue_name=settings.queue_name
                )
            finally:
                await runner.stop()
        else:
            await runner.run()
        return runner.processed

    processed = run_with_catalogue(work)
    typer.echo(f"processed {processed} job(s)")


def import_catalogue(
    manifest: Annotated[
        Path, typer.Argument(help="JSON Lines: one track object per line, with 'audio' (a path).")
    ],
) -> None:
    """Bulk-import tracks and their audio into the catalogue (analysis jobs are queued).

    Each line is the 'metadata' object of POST /v1/tracks plus 'audio': a file
    path, relative to the manifest's folder. Audio is streamed into the media store
    (BACKBEAT_MAX_UPLOAD_MB applies). Bad lines are reported, with the reason, and
    skipped.
    """
    from backbeat.cli._importer import import_manifest

    imported, queued, total = import_manifest(manifest)
    typer.echo(f"imported {imported} of {total} track(s); {queued} analysis job(s) queued")
    if total and not imported:
        raise typer.Exit(1)
