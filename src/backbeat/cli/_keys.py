"""``backbeat keys generate|show|status|rotate|reencrypt``: the master keys.

Where the master key lives is ``BACKBEAT_KEY_PROVIDER``: ``local`` (a keyring file, or
``ENCRYPTION_KEY``) or ``pkcs11`` (an HSM; the key never leaves it). With the local
provider the key file is the one the service uses: ``ENCRYPTION_KEY_FILE``, else
``<BACKBEAT_DATA_DIR>/audit.keys``. Secret material is printed only with
``--show-secret`` (``--reveal`` is kept as an alias on ``show``), and only for a local
keyring: an HSM key has no bytes to print. Key files are written with mode 0600.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from backbeat.cli._common import run_with_catalogue
from backbeat.errors import BackbeatError

if TYPE_CHECKING:
    from backbeat.security import KeyManager, Keyring

__all__ = ["keys_app"]

keys_app = typer.Typer(
    help="Manage the master keys: a local keyring file (mode 0600) or an HSM (PKCS#11).",
    no_args_is_help=True,
)

_FILE_HELP = (
    "Local key file (default: ENCRYPTION_KEY_FILE, else <BACKBEAT_DATA_DIR>/audit.keys, "
    "the file the service uses)."
)
_REVEAL_HELP = "Also print the keys as an ENCRYPTION_KEY value (secret!)."
_JSON_HELP = "Print one JSON object."


def _settings() -> Any:
    from backbeat.settings import Settings

    return Settings.from_env()


def _key_file(path: Path | None) -> Path:
    if path is not None:
        return path
    settings = _settings()
    chosen: Path = settings.encryption_key_file or settings.data_dir / "audit.keys"
    return chosen


def _hsm() -> bool:
    return bool(_settings().key_provider == "pkcs11")


def _print_ring(ring: Keyring, path: Path | None, show_secret: bool) -> None:
    for i, kid in enumerate(ring.key_ids):
        typer.echo(f"{kid}{'  (primary)' if i == 0 else ''}")
    if path is not None:
        typer.echo(f"ENCRYPTION_KEY_FILE={path}")
    if show_secret:
        typer.echo(f"ENCRYPTION_KEY={ring.export()}")


def _no_secret_in_hsm(show_secret: bool) -> None:
    if show_secret:
        raise BackbeatError(
            "cli.hsm_no_secret",
            message=(
                "--show-secret does not apply to BACKBEAT_KEY_PROVIDER=pkcs11: the master "
                "key cannot leave the HSM."
            ),
        )


def _manager(catalogue: Any, file: Path | None) -> KeyManager:
    """The key manager the service would use, its counters in the catalogue's database."""
    from backbeat.security import (
        KeyManager,
        Keyring,
        LocalKeyProvider,
        SqlKeyUsageStore,
        policy_from_settings,
        provider_from_settings,
    )

    settings = _settings()
    provider: Any
    if settings.key_provider == "local" and (file is not None or settings.encryption_key is None):
        path = _key_file(file)
        provider = LocalKeyProvider(Keyring.from_file(path), path)
    else:
        provider = provider_from_settings(settings)
    return KeyManager(provider, SqlKeyUsageStore(catalogue.engine), policy_from_settings(settings))


@keys_app.command("generate")
def keys_generate(
    file: Annotated[Path | None, typer.Option(help=_FILE_HELP)] = None,
    show_secret: Annotated[bool, typer.Option("--show-secret", help=_REVEAL_HELP)] = False,
    force: Annotated[bool, typer.Option(help="Overwrite an existing local key file.")] = False,
) -> None:
    """Create the master key: a new local keyring file, or (PKCS#11) an AES-256 key in the
    token, sensitive and not extractable, when the token holds none yet."""
    if _hsm():
        _no_secret_in_hsm(show_secret)

        async def ensure(catalogue: Any) -> tuple[str, bool]:
            manager = _manager(catalogue, None)
            try:
                return await manager.ensure_key()
            finally:
                manager.provider.close()

        key_id, created = run_with_catalogue(ensure, audit=("keys.generate", "keys:pkcs11"))
        label = _settings().pkcs11_key_label
        verb = "created" if created else "already present"
        typer.echo(f"{key_id}  (current)  {label}: {verb} in the token, not extractable")
        return

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


@keys_app.command("show")
def keys_show(
    file: Annotated[Path | None, typer.Option(help=_FILE_HELP)] = None,
    show_secret: Annotated[
        bool, typer.Option("--show-secret", "--reveal", help=_REVEAL_HELP)
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help=_JSON_HELP)] = False,
) -> None:
    """List key ids, current first (ENCRYPTION_KEY wins over the key file, as in the
    service); for an HSM key its label, id and attributes, never key bytes."""
    from backbeat.security import Keyring, provider_from_settings

    settings = _settings()
    if settings.key_provider == "pkcs11":
        _no_secret_in_hsm(show_secret)
        provider = provider_from_settings(settings)
        try:
            infos = provider.keys()
        finally:
            provider.close()
        if not infos:
            raise BackbeatError(
                "cli.hsm_no_key",
                details={"label": settings.pkcs11_key_label, "token": settings.pkcs11_token},
                message=(
                    "The token {token} holds no key labelled {label}; create it with "
                    "`backbeat keys generate`."
                ),
            )
        if as_json:
            typer.echo(json.dumps({"keys": [vars(i) for i in infos]}, indent=2))
            return
        for info in infos:
            typer.echo(f"{info.key_id}{'  (current)' if info.current else ''}  {info.label}")
            for name, value in info.attributes.items():
                typer.echo(f"    {name}={value}")
        return
    if file is None and settings.encryption_key is not None:
        ring = Keyring.from_string(settings.encryption_key.get_secret_value())
        _print_ring(ring, None, show_secret)
        return
    path = _key_file(file)
    _print_ring(Keyring.from_file(path), path, show_secret)


@keys_app.command("status")
def keys_status(
    file: Annotated[Path | None, typer.Option(help=_FILE_HELP)] = None,
    as_json: Annotated[bool, typer.Option("--json", help=_JSON_HELP)] = False,
) -> None:
    """Each master key's age, use count (data keys wrapped) and state, and whether the
    rotation policy (BACKBEAT_KEY_MAX_AGE_DAYS, BACKBEAT_KEY_MAX_ENCRYPTIONS) is due."""

    async def status(catalogue: Any) -> list[Any]:
        manager = _manager(catalogue, file)
        try:
            return await manager.status()
        finally:
            manager.provider.close()

    rows = run_with_catalogue(status)
    if as_json:
        typer.echo(json.dumps({"keys": [r.to_dict() for r in rows]}, indent=2))
        return
    typer.echo(f"{'KEY':<18} {'STATE':<8} {'AGE (d)':>8} {'USES':>12}  ROTATION")
    for r in rows:
        age = "?" if r.age_days is None else f"{r.age_days:.1f}"
        due = r.rotation_due or ("-" if r.current else "")
        mark = "*" if r.current else " "
        typer.echo(f"{r.key_id:<17}{mark} {r.state:<8} {age:>8} {r.encryptions:>12}  {due}")


async def _reencrypt(manager: KeyManager, catalogue: Any, batch_size: int, force: bool) -> Any:
    """Run (or resume) the re-encryption with a progress bar on stderr."""
    from backbeat.catalogue import Reencryption

    job = Reencryption(catalogue.engine, manager, batch_size=batch_size)
    total = await job.total()
    with typer.progressbar(length=total, label="re-encrypting", file=sys.stderr) as bar:
        return await job.run(progress=bar.update, force=force)


def _report(result: Any, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(result.to_dict()))
    else:
        resumed = " (resumed)" if result.resumed else ""
        typer.echo(
            f"re-encryption {result.run_id}{resumed}: {result.examined} examined, "
            f"{result.rewritten} rewritten under {result.key_id}, {result.verified} verified"
        )
        for problem in result.problems:
            typer.echo(f"  problem: {problem}", err=True)
    if not result.ok:
        raise typer.Exit(1)


@keys_app.command("rotate")
def keys_rotate(
    file: Annotated[Path | None, typer.Option(help=_FILE_HELP)] = None,
    show_secret: Annotated[bool, typer.Option("--show-secret", help=_REVEAL_HELP)] = False,
    reencrypt: Annotated[
        bool, typer.Option("--reencrypt", help="Then move every stored secret to the new key.")
    ] = False,
    batch_size: Annotated[int, typer.Option(help="Rows per committed batch.")] = 200,
    as_json: Annotated[bool, typer.Option("--json", help=_JSON_HELP)] = False,
) -> None:
    """Make a new master key current; older keys keep decrypting. With --reencrypt,
    re-encrypt every sealed column afterwards (resumable: see `keys reencrypt`)."""
    hsm = _hsm()
    if hsm:
        _no_secret_in_hsm(show_secret)
    elif _settings().encryption_key is not None and file is None:
        raise BackbeatError(
            "cli.key_in_environment",
            message=(
                "The keys come from ENCRYPTION_KEY, which this command cannot change: "
                "rotate the value you deploy, or use a key file (ENCRYPTION_KEY_FILE)."
            ),
        )
    else:
        from backbeat.security import Keyring

        Keyring.from_file(_key_file(file))  # no key yet: say so, do not create one to rotate

    async def rotate(catalogue: Any) -> tuple[str, Any]:
        manager = _manager(catalogue, file)
        try:
            new = await manager.rotate(reason="manual")
            result = await _reencrypt(manager, catalogue, batch_size, False) if reencrypt else None
            return new, result
        finally:
            manager.provider.close()

    new, result = run_with_catalogue(
        rotate,
        audit=("keys.rotate", "keys:pkcs11" if hsm else "keys:local"),
        failed=lambda out: None if out[1] is None or out[1].ok else "security.reencrypt_failed",
    )
    if hsm:
        typer.echo(f"{new}  (current)")
    else:
        from backbeat.security import Keyring

        path = _key_file(file)
        _print_ring(Keyring.from_file(path), path, show_secret)
    if result is not None:
        _report(result, as_json)


@keys_app.command("reencrypt")
def keys_reencrypt(
    file: Annotated[Path | None, typer.Option(help=_FILE_HELP)] = None,
    batch_size: Annotated[int, typer.Option(help="Rows per committed batch.")] = 200,
    force: Annotated[
        bool, typer.Option(help="Take over a run whose owner looks alive (only if it is not).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help=_JSON_HELP)] = False,
) -> None:
    """Re-encrypt every sealed column under the current master key: resumes an
    interrupted run where it stopped, then verifies that every record decrypts."""

    async def work(catalogue: Any) -> Any:
        manager = _manager(catalogue, file)
        try:
            return await _reencrypt(manager, catalogue, batch_size, force)
        finally:
            manager.provider.close()

    result = run_with_catalogue(
        work,
        audit=("keys.reencrypt", "keys"),
        failed=lambda out: None if out.ok else "security.reencrypt_failed",
    )
    _report(result, as_json)
