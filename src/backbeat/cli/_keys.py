"""``backbeat keys generate|rotate|show``: the encryption keyring.

Secret material is printed only with ``--show-secret`` (``--reveal`` is kept as an
alias on ``show``); key files are written with mode 0600.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from backbeat.errors import BackbeatError

if TYPE_CHECKING:
    from backbeat.security import Keyring

__all__ = ["keys_app"]

keys_app = typer.Typer(
    help="Manage the encryption keyring (key files are written with mode 0600).",
    no_args_is_help=True,
)

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
    show_secret: Annotated[
        bool, typer.Option("--show-secret", "--reveal", help=_REVEAL_HELP)
    ] = False,
) -> None:
    """List key ids, primary first (ENCRYPTION_KEY wins over the key file, as in the service)."""
    from backbeat.security import Keyring
    from backbeat.settings import Settings

    settings = Settings.from_env()
    if file is None and settings.encryption_key is not None:
        ring = Keyring.from_string(settings.encryption_key.get_secret_value())
        _print_ring(ring, None, show_secret)
        return
    path = _key_file(file)
    _print_ring(Keyring.from_file(path), path, show_secret)
