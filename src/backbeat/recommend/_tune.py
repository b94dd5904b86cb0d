"""Hyper-parameter search, honestly named: seeded random searches.

:func:`tune_als` searches ALS's parameters; :func:`tune_hybrid` searches the blend
weights of a :class:`Hybrid` (ALS + item co-occurrence + content when a catalogue
is given): its components are fitted once on the past, then each trial only
re-weights their z-scored scores (weights drawn from a flat Dirichlet, the
default blend as trial 0), so a study of 30 weightings costs about one fit.

Each trial draws ``factors`` (16..128, log-uniform over powers of two),
``regularization`` (1e-3..1, log-uniform) and ``alpha`` (1..80, log-uniform),
fits on the past of a per-user time split and scores NDCG@k on the future.
Random search is a strong baseline for a handful of continuous parameters
(Bergstra & Bengio, JMLR 2012) and needs no extra dependency; the study
(every trial's parameters and score) is returned with the best model so the
choice can be audited and registered.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from backbeat.errors import ValidationError
from backbeat.recommend._als import ALS
from backbeat.recommend._baselines import ItemCooccurrence, _Fitted
from backbeat.recommend._catalogue import Catalogue
from backbeat.recommend._data import Interaction, InteractionMatrix
from backbeat.recommend._metrics import ndcg_at_k
from backbeat.recommend._split import time_split

__all__ = ["TuningResult", "tune_als", "tune_hybrid"]


@dataclass(frozen=True)
class TuningResult:
    best_params: dict[str, Any]
    best_score: float
    trials: list[dict[str, Any]] = field(default_factory=list)
    model: _Fitted | None = None  # refitted on every event with the best parameters


def tune_als(
    events: Iterable[Interaction],
    *,
    trials: int = 10,
    k: int = 10,
    seed: int = 0,
    iterations: int = 15,
) -> TuningResult:
    """Random search over ALS parameters; see the module docstring."""
    _check_trials(trials)
    all_events, train, future, users = _split_for_tuning(events)
    rng = np.random.default_rng(seed)
    study: list[dict[str, Any]] = []
    for trial in range(trials):
        params: dict[str, Any] = {
            "factors": int(2 ** rng.integers(4, 8)),
            "regularization": float(10 ** rng.uniform(-3, 0)),
            "alpha": float(math.exp(rng.uniform(0, math.log(80)))),
            "iterations": iterations,
            "seed": seed,
        }
        model = ALS(**params).fit(train)
        score = float(
            np.mean([ndcg_at_k([i for i, _ in model.recommend(u, k)], future[u], k) for u in users])
        )
        study.append({"trial": trial, **params, f"ndcg@{k}": round(score, 6)})
    best = max(study, key=lambda t: t[f"ndcg@{k}"])
    best_params = {p: best[p] for p in ("factors", "regularization", "alpha", "iterations", "seed")}
    final = ALS(**best_params).fit(InteractionMatrix.build(all_events))
    return TuningResult(best_params, best[f"ndcg@{k}"], study, final)


def _check_trials(trials: int) -> None:
    if trials < 1:
        raise ValidationError(
            "validation.tune_trials",
            details={"trials": trials},
            message="Tuning needs at least one trial, got {trials}.",
        )


def _split_for_tuning(
    events: Iterable[Interaction],
) -> tuple[list[Interaction], InteractionMatrix, dict[str, Any], list[str]]:
    all_events = list(events)
    split = time_split(all_events)
    train = InteractionMatrix.build(split.train)
    known = set(train.users)
    users = [u for u in split.test if u in known]
    if not users:
        raise ValidationError(
            "validation.tune_data", message="Too few events per user to hold any out for tuning."
        )
    return all_events, train, split.test, users


def tune_hybrid(
    events: Iterable[Interaction],
    catalogue: Catalogue | None = None,
    *,
    trials: int = 30,
    k: int = 10,
    seed: int = 0,
    als_params: dict[str, Any] | None = None,
) -> TuningResult:
    """Random search over a hybrid's blend weights; see the module docstring."""
    from backbeat.recommend._content import ContentBased
    from backbeat.recommend._hybrid import Hybrid

    _check_trials(trials)
    all_events, train, future, users = _split_for_tuning(events)
    names = ["als", "item_cooccurrence"] + (["content"] if catalogue is not None else [])
    params = {"seed": seed, **(als_params or {})}

    def components() -> list[_Fitted]:
        made: list[_Fitted] = [ALS(**params), ItemCooccurrence()]
        if catalogue is not None:
            made.append(ContentBased(catalogue))
        return made

    fitted = [c.fit(train) for c in components()]
    rng = np.random.default_rng(seed)
    default = np.array([1.0, 1.0, 0.3][: len(names)])
    study: list[dict[str, Any]] = []
    for trial in range(trials):
        weights = default / default.sum() if trial == 0 else rng.dirichlet(np.ones(len(names)))
        blend = Hybrid(list(zip(fitted, weights.tolist(), strict=True))).fit_combination(train)
        score = float(
            np.mean([ndcg_at_k([i for i, _ in blend.recommend(u, k)], future[u], k) for u in users])
        )
        row = {
            "trial": trial,
            **{n: round(float(w), 4) for n, w in zip(names, weights, strict=True)},
        }
        study.append({**row, f"ndcg@{k}": round(score, 6)})
    best = max(study, key=lambda t: t[f"ndcg@{k}"])
    best_weights = {n: best[n] for n in names}
    everything = InteractionMatrix.build(all_events)
    final = Hybrid(
        [(c.fit(everything), best_weights[n]) for c, n in zip(components(), names, strict=True)]
    ).fit_combination(everything)
    return TuningResult({"weights": best_weights, "als": params}, best[f"ndcg@{k}"], study, final)
