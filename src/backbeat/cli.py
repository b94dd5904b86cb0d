"""The ``backbeat`` command.

``backbeat serve`` starts the HTTP service; ``backbeat db upgrade`` migrates the
schema; ``backbeat audit verify|export`` checks and exports the audit trail;
``backbeat keys generate|rotate|show``
manages the keyring (secret material is printed only with ``--show-secret`` /
``--reveal``); ``backbeat --version`` prints the version; ``backbeat analyze PATH...`` computes
audio features for files and folders. Batch commands (dsr, anonymize) join as
their subpackages land. Bad
configuration exits with status 2 and one clear line, never a traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from backbeat._version import __version__
from backbeat.errors import BackbeatError

if TYPE_CHECKING:
    from backbeat.security import Keyring

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
    workers: Annotated[
        int, typer.Option(min=1, help="Server processes (each reads the same environment).")
    ] = 1,
) -> None:
    """Start the HTTP service (embedded defaults: SQLite under ./var, memory cache)."""
    import uvicorn

    from backbeat._logging import configure_logging, logging_config
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


keys_app = typer.Typer(
    help="Manage the encryption keyring (key files are written with mode 0600).",
    no_args_is_help=True,
)
app.add_typer(keys_app, name="keys")

_FILE_HELP = "Key file (default: ENCRYPTION_KEY_FILE, else <BACKBEAT_DATA_DIR>/keys)."
_REVEAL_HELP = "Also print the keys as an ENCRYPTION_KEY value (secret!)."


def _key_file(path: Path | None) -> Path:
    from backbeat.settings import Settings

    if path is not None:
        return path
    settings = Settings.from_env()
    return settings.encryption_key_file or settings.data_dir / "keys"


def _print_ring(ring: Keyring, path: Path | None, show_secret: bool) -> None:
    for i, kid in enumerate(ring.key_ids):
        typer.echo(f"{kid}{'  (primary)' if i == 0 else ''}")
    if path is not None:
        typer.echo(f"ENCRYPTION_KEY_FILE={path}")
    if show_secret:
        typer.echo(f"ENCRYPTION_KEY={ring.export()}")


@keys_app.command("generate")
def keys_generate(
    file: Annotated[Path | None, typer.Option(help=_FILE_HELP)] = None,
    show_secret: Annotated[bool, typer.Option("--show-secret", help=_REVEAL_HELP)] = False,
    force: Annotated[bool, typer.Option(help="Overwrite an existing key file.")] = False,
) -> None:
    """Create a new keyring with one random 256-bit key; print its id."""
    from backbeat.security import Keyring

    path = _key_file(file)
    if path.exists() and not force:
        raise BackbeatError(
            "cli.key_file_exists",
            details={"path": str(path)},
            message="{path} already exists; use `backbeat keys rotate`, or --force to replace it.",
        )
    ring = Keyring.generate()
    ring.save(path)
    _print_ring(ring, path, show_secret)


@keys_app.command("rotate")
def keys_rotate(
    file: Annotated[Path | None, typer.Option(help=_FILE_HELP)] = None,
    show_secret: Annotated[bool, typer.Option("--show-secret", help=_REVEAL_HELP)] = False,
) -> None:
    """Add a new primary key to the key file; older keys keep decrypting."""
    from backbeat.security import Keyring

    path = _key_file(file)
    ring = Keyring.from_file(path)
    ring.rotate()
    ring.save(path)
    _print_ring(ring, path, show_secret)


@keys_app.command("show")
def keys_show(
    file: Annotated[Path | None, typer.Option(help=_FILE_HELP)] = None,
    reveal: Annotated[bool, typer.Option("--reveal", help=_REVEAL_HELP)] = False,
) -> None:
    """List key ids, primary first (ENCRYPTION_KEY wins over the key file, as in the service)."""
    from backbeat.security import Keyring
    from backbeat.settings import Settings

    settings = Settings.from_env()
    if file is None and settings.encryption_key is not None:
        ring = Keyring.from_string(settings.encryption_key.get_secret_value())
        _print_ring(ring, None, reveal)
        return
    path = _key_file(file)
    _print_ring(Keyring.from_file(path), path, reveal)


db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")
audit_app = typer.Typer(help="The tamper-evident audit trail.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")


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


@audit_app.command("verify")
def audit_verify(
    chain: Annotated[str | None, typer.Option(help="One chain (default: every chain).")] = None,
) -> None:
    """Check every link, MAC and signed checkpoint; exit 1 naming the first bad event."""
    import anyio

    from backbeat.audit import verify_chain
    from backbeat.toolkit import Toolkit

    async def run() -> bool:
        async with Toolkit.from_env() as tk:
            trail = tk.audit
            names = [chain] if chain else await trail.store.chains()
            ok = True
            for name in names:
                report = await verify_chain(trail.store, trail.sealer, name)
                typer.echo(report.describe(), err=not report.ok)
                ok = ok and report.ok
            if not names:
                typer.echo("audit log is empty")
            return ok

    if not anyio.run(run):
        raise typer.Exit(1)


@audit_app.command("export")
def audit_export(
    actor: Annotated[str | None, typer.Option()] = None,
    action: Annotated[str | None, typer.Option()] = None,
    resource: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Write matching events to stdout as JSON Lines."""
    import sys

    import anyio

    from backbeat.toolkit import Toolkit

    async def run() -> None:
        async with Toolkit.from_env() as tk:
            await tk.audit.export_jsonl(sys.stdout, actor=actor, action=action, resource=resource)

    anyio.run(run)


from backbeat._cli_audio import analyze  # noqa: E402  (commands live beside their concern)
from backbeat._cli_recommend import recommend_app  # noqa: E402
from backbeat._cli_service import apikey_app, import_catalogue, worker  # noqa: E402

app.command()(analyze)
app.add_typer(apikey_app, name="apikey")
app.command()(worker)
app.command("import")(import_catalogue)
app.add_typer(recommend_app, name="recommend")


def main() -> None:
    """Entry point: run the CLI, turning our errors into one line and exit status 2."""
    try:
        app()
    except BackbeatError as e:
        typer.echo(f"backbeat: error: {e.message} [{e.code}]", err=True)
        raise SystemExit(2) from None
