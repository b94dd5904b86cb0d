"""``backbeat serve`` and ``backbeat db upgrade``."""

from __future__ import annotations

import os
from typing import Annotated

import typer

__all__ = ["db_app", "serve"]


def serve(
    host: Annotated[str | None, typer.Option(help="Interface (default BACKBEAT_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="TCP port (default BACKBEAT_PORT).")] = None,
    workers: Annotated[
        int, typer.Option(min=1, help="Server processes (each reads the same environment).")
    ] = 1,
) -> None:
    """Start the HTTP service (embedded defaults: SQLite under ./var, memory cache)."""
    _one_blas_thread()
    import uvicorn

    from backbeat.cli._logging import configure_logging, logging_config
    from backbeat.server import create_app
    from backbeat.settings import Settings

    overrides = {k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    settings = Settings.from_env(**overrides)
    configure_logging(settings.log_level, settings.log_format)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if workers > 1 or os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Before any worker starts (and before they import prometheus_client): every
        # process writes its series there and each scrape aggregates them all.
        from backbeat.monitoring import multiprocess_dir, prepare_multiprocess_dir

        prepare_multiprocess_dir(multiprocess_dir() or settings.data_dir / "metrics")
    if settings.database_backend == "sqlite":
        # Migrate once here: several workers migrating one new SQLite file would race.
        import anyio

        from backbeat.toolkit import Toolkit

        async def migrate() -> None:
            async with Toolkit(settings) as toolkit:
                await toolkit.migrate()

        anyio.run(migrate)
    if workers > 1:
        # Several processes need an import string; each builds its app from the environment.
        uvicorn.run(
            "backbeat.server:create_app",
            factory=True,
            workers=workers,
            host=settings.host,
            port=settings.port,
            log_level=settings.log_level.lower(),
            log_config=logging_config(settings.log_level, settings.log_format),
        )
        return
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        log_config=logging_config(settings.log_level, settings.log_format),
    )


def _one_blas_thread() -> None:
    """One BLAS thread per service process, this one and the workers uvicorn spawns.

    A request's numpy work is small; OpenBLAS's per-core threads in every process
    fought each other and the event loop (63 vs 122 req/s on the 100k-track benchmark).
    Processes (``--workers``) and the event loop are the service's parallelism. Done
    here, in our own program, not in ``create_app``: a library must not change a
    host's process-wide thread pools. An operator's own setting wins.
    """
    for name in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):  # not OpenMP: implicit trains on it
        os.environ.setdefault(name, "1")
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # without the ml extra there is no BLAS work to limit
        return
    threadpool_limits(int(os.environ["OPENBLAS_NUM_THREADS"]), "blas")  # if numpy is loaded


db_app = typer.Typer(help="Database schema.", no_args_is_help=True)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply every pending migration to DATABASE_URL (SQLite under ./var by default)."""
    import anyio

    from backbeat.toolkit import Toolkit

    async def run() -> str | None:
        from backbeat.storage import current_revision

        async with Toolkit.from_env() as tk:
            await tk.migrate()
            return await current_revision(tk.database_engine())

    typer.echo(f"database at revision {anyio.run(run)}")
