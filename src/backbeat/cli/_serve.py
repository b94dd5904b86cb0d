"""``backbeat serve`` and ``backbeat db upgrade``."""

from __future__ import annotations

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
    import uvicorn

    from backbeat.cli._logging import configure_logging, logging_config
    from backbeat.server import create_app
    from backbeat.settings import Settings

    overrides = {k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    settings = Settings.from_env(**overrides)
    configure_logging(settings.log_level, settings.log_format)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
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
