"""``backbeat recommend train|evaluate|tune|serve-model``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from backbeat.cli._common import run_with_catalogue
from backbeat.errors import BackbeatError

__all__ = ["recommend_app"]


recommend_app = typer.Typer(
    help="Recommendations: training, evaluation, tuning, serving.", no_args_is_help=True
)


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
    """Score the recommenders on a per-user time-based split (a file or --synthetic).

    On a terminal, progress goes to stderr, one line per step; the table (or --json)
    goes to stdout.
    """
    import json
    import sys
    import time

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
    started = time.perf_counter()
    interactive = sys.stderr.isatty()  # like analyze and import: progress for people only

    def progress(step: str, done: int, total: int) -> None:
        if interactive:
            elapsed = time.perf_counter() - started
            typer.echo(f"[{done + 1}/{total}] {step} ({elapsed:.0f} s)", err=True)

    if events is not None:
        # Without a catalogue file, content-based models have nothing to read.
        results = evaluate(
            [MostPopular(), ItemCooccurrence(), ALS(seed=seed)],
            load_events(events),
            k=k,
            progress=progress,
        )
    else:
        results = evaluate_synthetic(
            seed=seed, n_users=users, n_items=items, k=k, progress=progress
        )
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
    model: Annotated[
        str, typer.Option(help="hybrid (ALS + item co-occurrence), als or item_cooccurrence.")
    ] = "hybrid",
    factors: Annotated[int, typer.Option(help="ALS latent factors.")] = 64,
    iterations: Annotated[int, typer.Option(help="ALS iterations.")] = 15,
    promote: Annotated[
        bool,
        typer.Option(
            help="Make it the production model, unless it scores worse than production "
            "on a time split of the same events."
        ),
    ] = False,
) -> None:
    """Train a model on listening events and register it in <BACKBEAT_DATA_DIR>/models,
    the registry `backbeat serve` reads (a promotion reaches it without a restart)."""
    from backbeat.recommend import (
        RECIPES,
        InteractionMatrix,
        ModelRegistry,
        load_events,
        train_and_register,
    )
    from backbeat.settings import Settings

    if model not in RECIPES:
        raise BackbeatError(
            "cli.recommend_model",
            details={"value": model, "known": ", ".join(RECIPES)},
            message="Unknown model {value}: use {known}.",
        )
    root = registry or Settings.from_env().data_dir / "models"
    if (events is None) == (not from_database):
        raise BackbeatError(
            "cli.recommend_source", message="Give an events file or --from-database (one of them)."
        )
    loaded = load_events(events) if events else _database_events()
    data = InteractionMatrix.build(loaded)
    if not data.items:
        where = str(events) if events else "the database (POST /v1/events)"
        raise BackbeatError(
            "cli.no_events",
            details={"source": where},
            message="{source} holds no listening events to train on.",
        )
    recipe = {"model": model, "factors": factors, "iterations": iterations}
    result = train_and_register(loaded, ModelRegistry(root), name, recipe, promote=promote)
    typer.echo(
        f"{name} v{result.version.version}: {len(data.users)} users, {len(data.items)} tracks"
        + (" (production)" if result.promoted else "")
    )
    if promote:
        typer.echo(("promoted: " if result.promoted else "not promoted: ") + result.reason)


def _database_events() -> list[Any]:
    async def work(catalogue: Any) -> list[Any]:
        return list(await catalogue.events.interactions())

    return run_with_catalogue(work)


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

    from backbeat.recommend import create_model_app
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
