"""Hyper-parameter search, honestly named: seeded random searches.

:func:`tune_als` searches ALS's parameters; :func:`tune_hybrid` searches the blend
weights of a :class:`Hybrid` (ALS + item co-occurrence + content when a catalogue
is given): its components are fitted once on the past, then each trial only
re-weights their z-scored scores, so a study of 30 weightings costs about one fit.
The trials are the default blend, then each component alone (so the chosen blend
is never worse than its best part on the validation data), then weights drawn from
a flat Dirichlet. A blend is kept only if it beats the best single component by
:data:`MIN_GAIN` (1%, relative); otherwise that component alone is the answer.

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
from typing import Any, cast

import numpy as np

from backbeat.errors import ValidationError
from backbeat.recommend._als import ALS
from backbeat.recommend._baselines import ItemCooccurrence, _Fitted
from backbeat.recommend._catalogue import Catalogue
from backbeat.recommend._data import Interaction, InteractionMatrix
from backbeat.recommend._metrics import ndcg_at_k
from backbeat.recommend._split import time_split

__all__ = ["MIN_GAIN", "TuningResult", "tune_als", "tune_hybrid"]

#: A blend must beat its best single component by this relative margin on the
#: validation users to be preferred to it; smaller gains are within one split's noise.
MIN_GAIN = 0.01


class _LastUser:
    """A fitted component that remembers its scores for the latest user asked about."""

    def __init__(self, inner: _Fitted) -> None:
        self.inner = inner
        self.name = inner.name
        self.item_list = inner.item_list
        self._user: str | None = None
        self._scores: Any = None

    def user_scores(self, user: str) -> Any:
        if user != self._user:
            self._scores, self._user = self.inner.user_scores(user), user
        return self._scores


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
    refit: bool = True,
) -> TuningResult:
    """Search a hybrid's blend weights; see the module docstring.

    ``events`` are split per user by time: components fit on the past, each weighting
    is scored (NDCG@k) on the future. With ``refit`` (the default) the best blend is
    refitted on every event and returned as ``model``; without, ``model`` is ``None``
    (for callers that only need the weights).
    """
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

    fitted = [_LastUser(c.fit(train)) for c in components()]
    rng = np.random.default_rng(seed)
    default = np.array([1.0, 1.0, 0.3][: len(names)])
    corners = [np.eye(len(names))[i] for i in range(len(names))]
    weightings: list[np.ndarray] = []
    for trial in range(trials):
        if trial == 0:
            weightings.append(default / default.sum())
        elif trial <= len(corners):
            weightings.append(corners[trial - 1])
        else:
            weightings.append(rng.dirichlet(np.ones(len(names))))
    blends = [
        Hybrid(list(zip(cast(list[_Fitted], fitted), w.tolist(), strict=True))).fit_combination(
            train
        )
        for w in weightings
    ]
    # Users outside, trials inside: each component scores a user once, trials re-weight.
    totals = np.zeros(len(blends))
    for u in users:
        for t, blend in enumerate(blends):
            totals[t] += ndcg_at_k([i for i, _ in blend.recommend(u, k)], future[u], k)
    study: list[dict[str, Any]] = []
    for trial, (weights, total) in enumerate(zip(weightings, totals, strict=True)):
        row = {
            "trial": trial,
            **{n: round(float(w), 4) for n, w in zip(names, weights, strict=True)},
        }
        study.append({**row, f"ndcg@{k}": round(float(total) / len(users), 6)})
    best = max(study, key=lambda t: t[f"ndcg@{k}"])
    single = [t for t in study if 1 <= t["trial"] <= len(corners)]
    best_single = max(single, key=lambda t: t[f"ndcg@{k}"], default=None)
    if best_single is not None and best[f"ndcg@{k}"] < best_single[f"ndcg@{k}"] * (1 + MIN_GAIN):
        best = best_single  # a blend within the noise of its best part: keep the part
    best_weights = {n: best[n] for n in names}
    if not refit:
        return TuningResult({"weights": best_weights, "als": params}, best[f"ndcg@{k}"], study)
    everything = InteractionMatrix.build(all_events)
    final = Hybrid(
        [(c.fit(everything), best_weights[n]) for c, n in zip(components(), names, strict=True)]
    ).fit_combination(everything)
    return TuningResult({"weights": best_weights, "als": params}, best[f"ndcg@{k}"], study, final)
