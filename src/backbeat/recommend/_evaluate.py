"""Offline evaluation of several recommenders on one time-based split."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from backbeat.recommend._baselines import Recommender
from backbeat.recommend._data import Interaction, InteractionMatrix, Weighting
from backbeat.recommend._metrics import (
    average_precision_at_k,
    catalogue_coverage,
    ndcg_at_k,
    popularity_bias,
    recall_at_k,
)
from backbeat.recommend._split import time_split

__all__ = ["Progress", "evaluate", "evaluate_synthetic"]

TEST_FRACTION = 0.2

#: ``progress(step, done, total)``: called before each step of a long evaluation.
Progress = Callable[[str, int, int], None]


def evaluate(
    recommenders: Iterable[Recommender],
    events: Iterable[Interaction],
    *,
    k: int = 10,
    test_fraction: float = TEST_FRACTION,
    weighting: Weighting | None = None,
    items: Iterable[str] = (),
    progress: Progress | None = None,
) -> dict[str, dict[str, float]]:
    """Fit each recommender on the past and score it on each user's later discoveries.

    Returns ``{name: {"ndcg@k", "recall@k", "map@k", "coverage", "popularity_bias",
    "users"}}``.
    """
    split = time_split(events, test_fraction=test_fraction)
    data = InteractionMatrix.build(split.train, weighting=weighting, items=list(items))
    popularity = dict(zip(data.items, data.popularity().tolist(), strict=True))
    known = set(data.users)
    users = [u for u in split.test if u in known]
    results: dict[str, dict[str, float]] = {}
    chosen = list(recommenders)
    for done, rec in enumerate(chosen):
        if progress is not None:
            progress(f"fitting and scoring {rec.name}", done, len(chosen))
        rec.fit(data)
        lists = {u: [item for item, _ in rec.recommend(u, k)] for u in users}
        n = max(1, len(users))
        metrics: dict[str, Any] = {
            f"ndcg@{k}": sum(ndcg_at_k(lists[u], split.test[u], k) for u in users) / n,
            f"recall@{k}": sum(recall_at_k(lists[u], split.test[u], k) for u in users) / n,
            f"map@{k}": sum(average_precision_at_k(lists[u], split.test[u], k) for u in users) / n,
            "coverage": catalogue_coverage(list(lists.values()), len(data.items)),
            "popularity_bias": popularity_bias(list(lists.values()), popularity),
            "users": float(len(users)),
        }
        results[rec.name] = {name: round(float(v), 6) for name, v in metrics.items()}
    return results


def evaluate_synthetic(
    *,
    seed: int = 0,
    n_users: int = 5000,
    n_items: int = 8000,
    k: int = 10,
    hybrid_trials: int = 12,
    progress: Progress | None = None,
) -> dict[str, dict[str, float]]:
    """The five standard recommenders on a synthetic log (see :func:`synthetic_log`).

    The hybrid's blend weights are chosen on a validation split carved, by time, out
    of the training events (:func:`tune_hybrid` with ``hybrid_trials`` weightings,
    each component alone among them); the test events never inform them.
    """
    from backbeat.recommend._als import ALS
    from backbeat.recommend._baselines import ItemCooccurrence, MostPopular
    from backbeat.recommend._content import ContentBased
    from backbeat.recommend._hybrid import Hybrid
    from backbeat.recommend._synthetic import synthetic_log
    from backbeat.recommend._tune import tune_hybrid

    log = synthetic_log(n_users=n_users, n_items=n_items, n_clusters=20, seed=seed)
    if progress is not None:
        progress("choosing the hybrid's weights on a validation split", 0, 6)
    past = time_split(log.events, test_fraction=TEST_FRACTION).train
    weights = tune_hybrid(
        past, log.catalogue, trials=hybrid_trials, k=k, seed=seed, refit=False
    ).best_params["weights"]
    hybrid = Hybrid(
        [
            (ALS(seed=seed), weights["als"]),
            (ItemCooccurrence(), weights["item_cooccurrence"]),
            (ContentBased(log.catalogue), weights["content"]),
        ]
    )
    recommenders = [
        MostPopular(),
        ItemCooccurrence(),
        ALS(seed=seed),
        ContentBased(log.catalogue),
        hybrid,
    ]

    def step(name: str, done: int, total: int) -> None:
        if progress is not None:
            progress(name, done + 1, total + 1)

    return evaluate(
        recommenders,
        log.events,
        k=k,
        items=log.catalogue.ids,
        test_fraction=TEST_FRACTION,
        progress=step,
    )
