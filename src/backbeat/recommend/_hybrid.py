"""Hybrid recommendations: a weighted blend of standardised component scores.

Each component's scores for a user are turned into z-scores over its items
(so scales do not matter), placed on the union of all components' items (an
item a component cannot score is neutral for it: z = 0, the component's mean),
and summed with the component weights. Cold start falls out of the parts: a new
user gets what the components fall back to (popularity), a new track gets its
content score while collaborative components know nothing of it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from backbeat.errors import NotFound, ValidationError
from backbeat.recommend._baselines import _check_n, _Fitted
from backbeat.recommend._catalogue import Catalogue
from backbeat.recommend._data import InteractionMatrix

__all__ = ["ColdStartBlend", "Hybrid"]


class Hybrid(_Fitted):
    """``Hybrid([(ALS(), 1.0), (ContentBased(catalogue), 0.3)])``."""

    name = "hybrid"

    def __init__(self, components: Sequence[tuple[_Fitted, float]]) -> None:
        if not components or any(w < 0 for _, w in components):
            raise ValidationError(
                "validation.hybrid",
                message="A hybrid needs at least one component and non-negative weights.",
            )
        self.components = list(components)

    @classmethod
    def default(cls, catalogue: Catalogue, *, seed: int = 0) -> Hybrid:
        """ALS + item co-occurrence (collaborative) + content (0.3, for cold tracks)."""
        from backbeat.recommend._als import ALS
        from backbeat.recommend._baselines import ItemCooccurrence
        from backbeat.recommend._content import ContentBased

        return cls(
            [(ALS(seed=seed), 1.0), (ItemCooccurrence(), 1.0), (ContentBased(catalogue), 0.3)]
        )

    def fit(self, data: InteractionMatrix) -> Hybrid:
        for component, _ in self.components:
            component.fit(data)
        return self.fit_combination(data)

    def fit_combination(self, data: InteractionMatrix) -> Hybrid:
        """Align already-fitted components on one item list (used by ``fit`` and loading)."""
        items = tuple(dict.fromkeys(i for c, _ in self.components for i in c.item_list))
        self.data = data
        self._index(data, items)
        self._maps = [
            np.array([self._item_ix[i] for i in c.item_list], dtype=np.int64)
            for c, _ in self.components
        ]
        return self

    def user_scores(self, user: str) -> np.ndarray:
        self._require()
        total = np.zeros(len(self.item_list))
        for (component, weight), positions in zip(self.components, self._maps, strict=True):
            if weight == 0:
                continue
            raw = np.asarray(component.user_scores(user), dtype=np.float64)
            std = raw.std()
            z = (raw - raw.mean()) / std if std > 0 else np.zeros_like(raw)
            placed = np.zeros(len(self.item_list))  # unknown to this component: neutral
            placed[positions] = z
            total += weight * placed
        return total

    def similar_items(self, item: str, n: int = 10) -> list[tuple[str, float]]:
        """Blend of the components' similar items (rank-based: 1/rank, weighted)."""
        _check_n(n)
        self._require()
        self._item_position(item)
        # Votes over the candidates only, not the catalogue: each component's 3n best up
        # to n = 50, then n + 100 (a 250-track recommendation pool asks for 350 from each,
        # not 750: an item past rank n + 100 in one list adds under 1/(n + 100) of a vote).
        depth = n + min(2 * n, 100)
        positions: list[np.ndarray] = []
        weights: list[np.ndarray] = []
        for (component, weight), mapping in zip(self.components, self._maps, strict=True):
            if weight == 0:
                continue
            try:
                found, _ = component.similar_positions(item, depth)
            except NotFound:  # a component that does not know the item abstains
                continue
            positions.append(mapping[found])
            weights.append(weight / np.arange(1, len(found) + 1, dtype=np.float64))
        if not positions:
            return []
        # Fused in numpy (votes summed per item in component order, ties by position).
        unique, inverse = np.unique(np.concatenate(positions), return_inverse=True)
        votes = np.bincount(inverse, weights=np.concatenate(weights))
        keep = (votes > 0) & (unique != self._item_ix[item])
        unique, votes = unique[keep], votes[keep]
        order = np.lexsort((unique, -votes))[:n]
        return [
            (self.item_list[int(p)], float(v))
            for p, v in zip(unique[order], votes[order], strict=True)
        ]


class ColdStartBlend(_Fitted):
    """A collaborative model that content completes only where it knows nothing.

    ``ColdStartBlend(als, ContentBased(catalogue))``: warm tracks (those the
    collaborative model was trained on) are ranked and related by it alone, so a
    co-listening signal is never diluted by audio likeness; cold tracks (registered
    since) enter through content, scaled by ``content_weight``: a cold track at content
    rank r votes ``content_weight / r`` among the collaborative model's ``1 / rank``
    votes. A cold seed gets content's neighbours. This is the service's default blend.
    """

    name = "cold_start_blend"

    def __init__(self, collaborative: _Fitted, content: _Fitted, content_weight: float = 0.3):
        if content_weight < 0:
            raise ValidationError(
                "validation.hybrid", message="content_weight must not be negative."
            )
        self.collaborative = collaborative
        self.content = content
        self.content_weight = content_weight

    def fit(self, data: InteractionMatrix) -> ColdStartBlend:
        self.collaborative.fit(data)
        self.content.fit(data)
        return self.fit_combination(data)

    def fit_combination(self, data: InteractionMatrix) -> ColdStartBlend:
        """Align two fitted models on the union of their items."""
        warm = self.collaborative.item_list
        items = tuple(dict.fromkeys((*warm, *self.content.item_list)))
        self.data = data
        self._index(data, items)
        self._warm = frozenset(warm)
        self._collab_pos = np.array([self._item_ix[i] for i in warm], dtype=np.int64)
        cold = [i for i in self.content.item_list if i not in self._warm]
        self._cold_pos = np.array([self._item_ix[i] for i in cold], dtype=np.int64)
        content_ix = {t: j for j, t in enumerate(self.content.item_list)}
        self._cold_in_content = np.array([content_ix[i] for i in cold], dtype=np.int64)
        return self

    def user_scores(self, user: str) -> np.ndarray:
        self._require()
        total = np.full(len(self.item_list), -np.inf)
        raw = np.asarray(self.collaborative.user_scores(user), dtype=np.float64)
        std = raw.std()
        total[self._collab_pos] = (raw - raw.mean()) / std if std > 0 else 0.0
        if len(self._cold_pos):
            c = np.asarray(self.content.user_scores(user), dtype=np.float64)[self._cold_in_content]
            c_std = c.std()
            z = (c - c.mean()) / c_std if c_std > 0 else np.zeros_like(c)
            total[self._cold_pos] = self.content_weight * z
        return total

    def similar_items(self, item: str, n: int = 10) -> list[tuple[str, float]]:
        _check_n(n)
        self._require()
        self._item_position(item)
        if item not in self._warm:
            return self.content.similar_items(item, n)
        ranked_warm = self.collaborative.similar_items(item, n)
        if not (self.content_weight > 0 and len(self._cold_pos)):
            return [(other, 1.0 / rank) for rank, (other, _) in enumerate(ranked_warm, start=1)]
        votes = {other: 1.0 / rank for rank, (other, _) in enumerate(ranked_warm, start=1)}
        try:
            similar = self.content.similar_items(item, n * 3)
        except NotFound:
            similar = []
        cold = [other for other, _ in similar if other not in self._warm]
        for rank, other in enumerate(cold, start=1):
            votes[other] = self.content_weight / rank
        ranked = sorted(votes.items(), key=lambda kv: -kv[1])[:n]
        return [(other, float(v)) for other, v in ranked]
