"""The ``backbeat`` command.

``backbeat serve`` starts the HTTP service; ``backbeat --version`` prints the
version. Batch commands (analyze, keys, audit, dsr, anonymize) join as their
subpackages land. Bad configuration exits with status 2 and one clear line,
never a traceback.
"""

from __future__ import annotations

from typing import Annotated

import typer

from backbeat._version import __version__
from backbeat.errors import BackbeatError

app = typer.Typer(
    name="backbeat",
    help="Audio features, recommendations and the plumbing around them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"backbeat {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """backbeat: a toolkit and a self-hosted service for music backends."""


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface (default BACKBEAT_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="TCP port (default BACKBEAT_PORT).")] = None,
) -> None:
    """Start the HTTP service (embedded defaults: SQLite under ./var, memory cache)."""
    import uvicorn

    from backbeat._logging import configure_logging
    from backbeat.server import create_app
    from backbeat.settings import Settings

    overrides = {k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    settings = Settings.from_env(**overrides)
    configure_logging(settings.log_level)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
    )


def main() -> None:
    """Entry point: run the CLI, turning our errors into one line and exit status 2."""
    try:
        app()
    except BackbeatError as e:
        typer.echo(f"backbeat: error: {e.message} [{e.code}]", err=True)
        raise SystemExit(2) from None
