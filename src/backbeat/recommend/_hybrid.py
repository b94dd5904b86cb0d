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
from backbeat.recommend._index import top_k as _top

__all__ = ["Hybrid"]


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
        votes = np.zeros(len(self.item_list))
        for component, weight in self.components:
            try:
                similar = component.similar_items(item, n * 3)
            except NotFound:  # a component that does not know the item abstains
                continue
            for rank, (other, _) in enumerate(similar, start=1):
                votes[self._item_ix[other]] += weight / rank
        top = _top(votes, n, np.array([self._item_ix[item]]))
        return [(self.item_list[j], float(votes[j])) for j in top if votes[j] > 0]
