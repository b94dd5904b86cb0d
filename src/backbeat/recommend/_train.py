"""Training for serving: recipes, an offline score, and the promotion rule.

A *recipe* names what to fit: ``hybrid`` (the default: :class:`ALS` and
:class:`ItemCooccurrence` blended, z-scored, equal weights; the service adds content
for cold tracks at serving time), ``als`` or ``item_cooccurrence``. Every registered
version keeps its recipe in ``meta.json`` (``study.recipe``), so a candidate and the
production version can be compared fairly: both recipes are fitted on the past of the
same per-user time split of today's events and scored by NDCG@10 on its future.
:func:`train_and_register` promotes the candidate only if its score is not worse
than production's (the rule of ``backbeat recommend train --promote``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from backbeat.errors import ValidationError
from backbeat.recommend._als import ALS
from backbeat.recommend._baselines import ItemCooccurrence, _Fitted
from backbeat.recommend._data import Interaction, InteractionMatrix
from backbeat.recommend._hybrid import Hybrid
from backbeat.recommend._metrics import ndcg_at_k
from backbeat.recommend._registry import ModelRegistry, ModelVersion
from backbeat.recommend._split import time_split

__all__ = ["RECIPES", "TrainResult", "build_recipe", "offline_score", "train_and_register"]

RECIPES = ("hybrid", "als", "item_cooccurrence")


def build_recipe(recipe: dict[str, Any]) -> _Fitted:
    """An unfitted model for ``{"model": "hybrid"|"als"|"item_cooccurrence", ...}``."""
    kind = recipe.get("model")
    als = {k: recipe[k] for k in ("factors", "iterations", "seed") if k in recipe}
    if kind == "als":
        return ALS(**als)
    if kind == "item_cooccurrence":
        return ItemCooccurrence()
    if kind == "hybrid":
        return Hybrid([(ALS(**als), 1.0), (ItemCooccurrence(), 1.0)])
    raise ValidationError(
        "validation.recipe",
        details={"model": str(kind), "known": ", ".join(RECIPES)},
        message="Unknown model {model}; use one of {known}.",
    )


def offline_score(
    recipe: dict[str, Any], events: Sequence[Interaction], k: int = 10
) -> float | None:
    """NDCG@k of ``recipe`` fitted on the past of a per-user time split of ``events``;
    ``None`` when no user has enough events to hold some out."""
    split = time_split(events)
    train = InteractionMatrix.build(split.train)
    users = [u for u in split.test if u in set(train.users)]
    if not users:
        return None
    model = build_recipe(recipe).fit(train)
    return float(
        np.mean([ndcg_at_k([i for i, _ in model.recommend(u, k)], split.test[u], k) for u in users])
    )


@dataclass(frozen=True, slots=True)
class TrainResult:
    version: ModelVersion
    promoted: bool
    score: float | None  # the candidate's offline NDCG@10
    production_score: float | None  # production's recipe on the same split
    reason: str  # why it was (not) promoted, in a sentence


def _recipe_of(version: ModelVersion) -> dict[str, Any] | None:
    meta = json.loads((version.path / "meta.json").read_text())
    recipe = (meta.get("study") or {}).get("recipe")
    return recipe if isinstance(recipe, dict) else None


def train_and_register(
    events: Sequence[Interaction],
    registry: ModelRegistry,
    name: str,
    recipe: dict[str, Any],
    *,
    promote: bool = False,
) -> TrainResult:
    """Fit ``recipe`` on every event, register it with its offline score, and with
    ``promote`` make it production unless it scores worse than production's recipe."""
    data = InteractionMatrix.build(events)
    score = offline_score(recipe, events)
    model = build_recipe(recipe).fit(data)
    metrics = {"ndcg@10": score} if score is not None else {}
    version = registry.register(name, model, metrics=metrics, study={"recipe": recipe})
    if not promote:
        return TrainResult(version, False, score, None, "not asked to promote")
    current = registry.production_version(name)
    production_score = None
    if current is not None:
        old = _recipe_of(registry.resolve(name, current))
        production_score = offline_score(old, events) if old is not None else None
    if score is not None and production_score is not None and score < production_score:
        reason = f"kept v{current}: it scores {production_score:.4f}, this one {score:.4f}"
        return TrainResult(version, False, score, production_score, reason)
    registry.promote(name, version.version)
    if current is None:
        reason = "the first production version"
    elif production_score is None or score is None:
        reason = "promoted without comparison (too few events to hold any out)"
    else:
        reason = f"scores {score:.4f}, production v{current} {production_score:.4f}"
    return TrainResult(version, True, score, production_score, reason)
