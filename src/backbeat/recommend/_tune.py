"""Hyper-parameter search for ALS, honestly named: a seeded random search.

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
from backbeat.recommend._data import Interaction, InteractionMatrix
from backbeat.recommend._metrics import ndcg_at_k
from backbeat.recommend._split import time_split

__all__ = ["TuningResult", "tune_als"]


@dataclass(frozen=True)
class TuningResult:
    best_params: dict[str, Any]
    best_score: float
    trials: list[dict[str, Any]] = field(default_factory=list)
    model: ALS | None = None  # refitted on every event with the best parameters


def tune_als(
    events: Iterable[Interaction],
    *,
    trials: int = 10,
    k: int = 10,
    seed: int = 0,
    iterations: int = 15,
) -> TuningResult:
    """Random search over ALS parameters; see the module docstring."""
    if trials < 1:
        raise ValidationError(
            "validation.tune_trials",
            details={"trials": trials},
            message="Tuning needs at least one trial, got {trials}.",
        )
    all_events = list(events)
    split = time_split(all_events)
    train = InteractionMatrix.build(split.train)
    known = set(train.users)
    users = [u for u in split.test if u in known]
    if not users:
        raise ValidationError(
            "validation.tune_data", message="Too few events per user to hold any out for tuning."
        )
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
            np.mean(
                [ndcg_at_k([i for i, _ in model.recommend(u, k)], split.test[u], k) for u in users]
            )
        )
        study.append({"trial": trial, **params, f"ndcg@{k}": round(score, 6)})
    best = max(study, key=lambda t: t[f"ndcg@{k}"])
    best_params = {p: best[p] for p in ("factors", "regularization", "alpha", "iterations", "seed")}
    final = ALS(**best_params).fit(InteractionMatrix.build(all_events))
    return TuningResult(best_params, best[f"ndcg@{k}"], study, final)
