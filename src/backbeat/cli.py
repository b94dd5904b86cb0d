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
from typing import TYPE_CHECKING, Annotated, Any

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


@app.command()
def analyze(
    paths: Annotated[
        list[str], typer.Argument(help="Audio files or folders (searched recursively).")
    ],
    fmt: Annotated[
        str, typer.Option("--format", "-f", help="table, jsonl or csv.", case_sensitive=False)
    ] = "table",
    jobs: Annotated[int, typer.Option("--jobs", "-j", min=1, help="Worker processes.")] = 1,
    plot: Annotated[
        Path | None, typer.Option(help="Draw waveform, beats, chroma and loudness (one file).")
    ] = None,
) -> None:
    """Spotify-style audio features for every file; undecodable files are reported, not fatal."""
    from rich.console import Console
    from rich.progress import Progress

    from backbeat.audio._batch import find_audio, format_rows, run

    fmt = fmt.lower()
    if fmt not in ("table", "jsonl", "csv"):
        raise BackbeatError(
            "cli.analyze_format",
            details={"value": fmt},
            message="Unknown format {value}: use table, jsonl or csv.",
        )
    files = list(find_audio(paths))
    if plot is not None:
        _plot_one(files, plot)
        return
    errors = Console(stderr=True)
    rows = []
    with Progress(console=errors, transient=True, disable=not errors.is_terminal) as progress:
        task = progress.add_task("analysing", total=len(files))
        for row in run(files, jobs):
            rows.append(row)
            progress.advance(task)
            if fmt == "jsonl":
                typer.echo(format_rows([row], "jsonl"), nl=False)
    if fmt == "csv":
        typer.echo(format_rows(rows, "csv"), nl=False)
    elif fmt == "table":
        _print_table(rows)
    failed = [r for r in rows if "error" in r]
    for row in failed:
        errors.print(
            f"skipped {row['file']}: {row['error']['message']} [{row['error']['code']}]",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
    if files and len(failed) == len(files):
        raise typer.Exit(1)


def _print_table(rows: list[dict[str, object]]) -> None:
    from rich.console import Console
    from rich.table import Table

    from backbeat.audio._batch import key_name

    table = Table(
        "file",
        "duration",
        "tempo",
        "meter",
        "key",
        "loudness",
        "dance",
        "energy",
        "speech",
        "acoustic",
        "instr.",
        "live",
        "valence",
    )
    for row in rows:
        if "error" in row:
            continue
        table.add_row(
            str(row["file"]),
            f"{int(row['duration_ms']) / 1000:.1f} s",  # type: ignore[call-overload]
            f"{row['tempo']:.1f}",
            f"{row['time_signature']}/4",
            key_name(int(row["key"]), int(row["mode"])),  # type: ignore[call-overload]
            f"{row['loudness']:.1f}",
            *(
                f"{row[k]:.2f}"
                for k in (
                    "danceability",
                    "energy",
                    "speechiness",
                    "acousticness",
                    "instrumentalness",
                    "liveness",
                    "valence",
                )
            ),
        )
    console = Console()
    if not console.is_terminal:
        console.width = 200
    console.print(table)


def _plot_one(files: list[str], out: Path) -> None:
    from backbeat.audio import analyze_all
    from backbeat.audio._plot import plot_analysis

    if len(files) != 1:
        raise BackbeatError(
            "cli.analyze_plot",
            details={"count": len(files)},
            message="--plot draws one file; {count} were given.",
        )
    features, analysis = analyze_all(files[0])
    plot_analysis(files[0], features, analysis, out)
    typer.echo(str(out))


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


apikey_app = typer.Typer(help="API keys of the service.", no_args_is_help=True)
app.add_typer(apikey_app, name="apikey")


def _with_store(work: Any, audit: tuple[str, str] | None = None) -> Any:
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

    _with_store(work, audit=("apikey.create", f"apikey:{new.key_id}"))
    typer.echo(f"created key {new.key_id} ({name}; scopes {','.join(sorted(wanted))})", err=True)
    typer.echo(new.plaintext)


@apikey_app.command("list")
def apikey_list() -> None:
    """Keys by id, name, scopes and state (never the keys themselves)."""

    async def work(store: Any) -> Any:
        return await store.api_keys()

    for record in _with_store(work):
        state = "revoked" if record.revoked_at else "active"
        scopes = ",".join(sorted(record.scopes))
        typer.echo(f"{record.key_id}  {state:7}  {scopes:16}  {record.name}")


@apikey_app.command("revoke")
def apikey_revoke(key_id: Annotated[str, typer.Argument(help="The key's id (see list).")]) -> None:
    """Revoke a key at once."""

    async def work(store: Any) -> bool:
        return bool(await store.revoke_api_key(key_id))

    if not _with_store(work, audit=("apikey.revoke", f"apikey:{key_id}")):
        raise BackbeatError(
            "cli.apikey_unknown",
            details={"key_id": key_id},
            message="No active key {key_id}.",
        )
    typer.echo(f"revoked {key_id}")


@app.command()
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
        if once:
            while await runner.run_once():
                pass
        else:
            await runner.run()
        return runner.processed

    processed = _with_store(work)
    typer.echo(f"processed {processed} job(s)")


@app.command("import")
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

    from backbeat.server._store import TrackRecord
    from backbeat.server._tracks import TrackIn, _media_root, _place
    from backbeat.settings import Settings

    settings = Settings.from_env()
    lines = [x for x in manifest.read_text(encoding="utf-8").splitlines() if x.strip()]
    errors = Console(stderr=True)

    async def work(store: Any) -> tuple[int, int]:
        imported = queued = 0
        root = _media_root(settings)
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
                record = TrackRecord(
                    id=track.id,
                    name=track.name,
                    artists=[a.model_dump() for a in track.artists],
                    isrc=track.isrc,
                    album=track.album,
                    genres=track.genres,
                    popularity=track.popularity,
                    audio_path=path,
                    audio_sha256=sha,
                )
                queued += await store.upsert_track(record)
                imported += 1
        return imported, queued

    imported, queued = _with_store(work, audit=("catalogue.import", f"file:{manifest.name}"))
    typer.echo(f"imported {imported} of {len(lines)} track(s); {queued} analysis job(s) queued")
    if lines and not imported:
        raise typer.Exit(1)


recommend_app = typer.Typer(help="Recommendations: offline evaluation.", no_args_is_help=True)
app.add_typer(recommend_app, name="recommend")


@recommend_app.command("evaluate")
def recommend_evaluate(
    events: Annotated[
        Path | None, typer.Argument(help="Events file (.csv, .jsonl or .parquet).")
    ] = None,
    synthetic: Annotated[bool, typer.Option("--synthetic", help="Use a generated log.")] = False,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic log.")] = 0,
    users: Annotated[int, typer.Option(help="Synthetic users.")] = 5000,
    items: Annotated[int, typer.Option(help="Synthetic tracks.")] = 8000,
    k: Annotated[int, typer.Option(help="Cut-off for the ranking metrics.")] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Score the recommenders on a per-user time-based split (a file or --synthetic)."""
    import json

    from backbeat.recommend import (
        ALS,
        ItemCooccurrence,
        MostPopular,
        evaluate,
        evaluate_synthetic,
        load_events,
    )

    if synthetic == (events is not None):
        raise BackbeatError(
            "cli.recommend_source", message="Give an events file or --synthetic (one of them)."
        )
    if events is not None:
        # Without a catalogue file, content-based models have nothing to read.
        results = evaluate(
            [MostPopular(), ItemCooccurrence(), ALS(seed=seed)], load_events(events), k=k
        )
    else:
        results = evaluate_synthetic(seed=seed, n_users=users, n_items=items, k=k)
    if as_json:
        typer.echo(json.dumps(results, indent=2, sort_keys=True))
        return
    metrics = [f"ndcg@{k}", f"recall@{k}", f"map@{k}", "coverage", "popularity_bias"]
    typer.echo("recommender".ljust(20) + "".join(m.rjust(16) for m in metrics))
    for name, row in results.items():
        typer.echo(name.ljust(20) + "".join(f"{row[m]:16.4f}" for m in metrics))


@recommend_app.command("train")
def recommend_train(
    events: Annotated[
        Path | None,
        typer.Argument(help="Events file (.csv, .jsonl or .parquet); or --from-database."),
    ] = None,
    from_database: Annotated[
        bool, typer.Option("--from-database", help="Train on events posted to /v1/events.")
    ] = False,
    name: Annotated[str, typer.Option(help="Model name in the registry.")] = "recommendation",
    registry: Annotated[Path | None, typer.Option(help="Registry folder.")] = None,
    factors: Annotated[int, typer.Option()] = 64,
    iterations: Annotated[int, typer.Option()] = 15,
    promote: Annotated[bool, typer.Option(help="Make it the production model.")] = False,
) -> None:
    """Train ALS on an events file and register it (default <BACKBEAT_DATA_DIR>/models)."""
    from backbeat.recommend import ALS, InteractionMatrix, ModelRegistry, load_events
    from backbeat.settings import Settings

    root = registry or Settings.from_env().data_dir / "models"
    if (events is None) == (not from_database):
        raise BackbeatError(
            "cli.recommend_source", message="Give an events file or --from-database (one of them)."
        )
    data = InteractionMatrix.build(load_events(events) if events else _database_events())
    if not data.items:
        raise BackbeatError("cli.no_events", message="The events file holds no events.")
    model = ALS(factors=factors, iterations=iterations).fit(data)
    store = ModelRegistry(root)
    version = store.register(name, model)
    if promote:
        store.promote(name, version.version)
    typer.echo(
        f"{name} v{version.version}: {len(data.users)} users, {len(data.items)} tracks"
        + (" (production)" if promote else "")
    )


def _database_events() -> list[Any]:
    from backbeat.recommend import EventKind, Interaction

    async def work(store: Any) -> list[dict[str, Any]]:
        return list(await store.events())

    return [
        Interaction(
            user=row["user_id"],
            item=row["track_id"],
            timestamp=float(row["timestamp"]),
            kind=EventKind(row["kind"]),
            ms_played=row["ms_played"],
        )
        for row in _with_store(work)
    ]


@recommend_app.command("serve-model")
def recommend_serve_model(
    name: Annotated[str, typer.Option(help="Model name in the registry.")] = "recommendation",
    version: Annotated[
        str, typer.Option(help="production (default; else latest), latest, or a number.")
    ] = "production",
    registry: Annotated[Path | None, typer.Option(help="Registry folder.")] = None,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8001,
) -> None:
    """Serve a registered model over HTTP (recommendations, similar items); picks up promotions."""
    import uvicorn

    from backbeat.recommend._serve import create_model_app
    from backbeat.settings import Settings

    root = registry or Settings.from_env().data_dir / "models"
    pinned: str | int = int(version) if version.isdigit() else version
    uvicorn.run(create_model_app(root, name, pinned), host=host, port=port, log_level="info")


@recommend_app.command("tune")
def recommend_tune(
    events: Annotated[
        Path | None, typer.Argument(help="Events file (.csv, .jsonl or .parquet).")
    ] = None,
    synthetic: Annotated[bool, typer.Option("--synthetic", help="Use a generated log.")] = False,
    trials: Annotated[int, typer.Option(help="Random-search trials.")] = 10,
    seed: Annotated[int, typer.Option()] = 0,
    name: Annotated[
        str | None, typer.Option(help="Register the best model under this name.")
    ] = None,
    registry: Annotated[Path | None, typer.Option(help="Registry folder.")] = None,
    hybrid: Annotated[
        bool,
        typer.Option(
            "--hybrid", help="Tune a hybrid's blend weights (ALS, co-occurrence, content)."
        ),
    ] = False,
) -> None:
    """Random search over ALS parameters (or, with --hybrid, blend weights); prints the study
    as JSON (and registers the best)."""
    import json

    from backbeat.recommend import ModelRegistry, load_events, synthetic_log, tune_als
    from backbeat.settings import Settings

    if synthetic == (events is not None):
        raise BackbeatError(
            "cli.recommend_source", message="Give an events file or --synthetic (one of them)."
        )
    log = synthetic_log(n_users=2000, n_items=3000, seed=seed) if synthetic else None
    data = log.events if log is not None else load_events(events)  # type: ignore[arg-type]
    if hybrid:
        from backbeat.recommend import tune_hybrid

        # Content needs a catalogue: the synthetic log has one; an events file does not.
        catalogue = log.catalogue if log is not None else None
        result = tune_hybrid(data, catalogue, trials=trials, seed=seed)
    else:
        result = tune_als(data, trials=trials, seed=seed)
    out: dict[str, object] = {
        "best_params": result.best_params,
        "best_ndcg@10": result.best_score,
        "trials": result.trials,
    }
    if name and result.model is not None:
        root = registry or Settings.from_env().data_dir / "models"
        version = ModelRegistry(root).register(
            name,
            result.model,
            metrics={"ndcg@10": result.best_score},
            study={"best_params": result.best_params, "trials": result.trials},
        )
        out["registered"] = {"name": name, "version": version.version}
    typer.echo(json.dumps(out, indent=2))


def main() -> None:
    """Entry point: run the CLI, turning our errors into one line and exit status 2."""
    try:
        app()
    except BackbeatError as e:
        typer.echo(f"backbeat: error: {e.message} [{e.code}]", err=True)
        raise SystemExit(2) from None
