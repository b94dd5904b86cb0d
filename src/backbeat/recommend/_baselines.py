"""The recommender protocol and two baselines every model must beat.

- :class:`MostPopular`: the items most users have positive confidence in.
- :class:`ItemCooccurrence`: item-item cosine similarity of the binarised
  user x item matrix; a user's score for an item is the sum of its similarities
  to the items they listened to (item-based CF, Sarwar et al., WWW 2001). Strong
  and simple; the bar for ALS and hybrids.
"""

from __future__ import annotations

import abc
from typing import Protocol, runtime_checkable

import numpy as np
from scipy import sparse

from backbeat.errors import NotFound, ValidationError
from backbeat.recommend._data import InteractionMatrix
from backbeat.recommend._index import top_k as _top

__all__ = ["ItemCooccurrence", "MostPopular", "Recommender"]


@runtime_checkable
class Recommender(Protocol):
    name: str

    def fit(self, data: InteractionMatrix) -> Recommender: ...

    def recommend(
        self, user: str, n: int = 10, *, exclude_seen: bool = True
    ) -> list[tuple[str, float]]: ...

    def similar_items(self, item: str, n: int = 10) -> list[tuple[str, float]]: ...


def _check_n(n: int) -> None:
    if not isinstance(n, int) or n < 1:
        raise ValidationError(
            "validation.recommend_n",
            details={"n": repr(n)},
            message="n must be a positive integer, got {n}.",
        )


class _Fitted(abc.ABC):
    """Shared plumbing: ``user_scores`` aligned with ``item_list`` is all a model provides."""

    name: str = "model"
    data: InteractionMatrix | None = None
    item_list: tuple[str, ...] = ()

    def _require(self) -> InteractionMatrix:
        if self.data is None:
            raise ValidationError(
                "validation.not_fitted", message="Call fit() before asking for recommendations."
            )
        return self.data

    def _index(self, data: InteractionMatrix, item_list: tuple[str, ...] | None = None) -> None:
        self._user_ix = data.user_index
        self.item_list = item_list if item_list is not None else data.items
        self._item_ix = {t: i for i, t in enumerate(self.item_list)}
        # Where each of the matrix's items sits in item_list.
        self._from_data = np.array([self._item_ix[t] for t in data.items], dtype=np.int64)

    def _seen(self, user: str) -> np.ndarray:
        data = self._require()
        u = self._user_ix.get(user)
        if u is None:
            return np.empty(0, dtype=np.int64)
        indices = data.seen.indices[data.seen.indptr[u] : data.seen.indptr[u + 1]]
        positions: np.ndarray = self._from_data[indices]
        return positions

    @abc.abstractmethod
    def fit(self, data: InteractionMatrix) -> _Fitted:
        """Learn from ``data``; returns the model itself."""

    @abc.abstractmethod
    def user_scores(self, user: str) -> np.ndarray:
        """Scores of every item of ``item_list`` for ``user`` (higher is better)."""

    @abc.abstractmethod
    def similar_items(self, item: str, n: int = 10) -> list[tuple[str, float]]:
        """The ``n`` items most like ``item``; ``NotFound`` for an unknown item."""

    def recommend(
        self, user: str, n: int = 10, *, exclude_seen: bool = True
    ) -> list[tuple[str, float]]:
        """The ``n`` best items for ``user`` (unknown users: a documented fallback)."""
        _check_n(n)
        self._require()
        scores = self.user_scores(user)
        top = _top(scores, n, self._seen(user) if exclude_seen else None)
        return [(self.item_list[i], float(scores[i])) for i in top]

    def _item_position(self, item: str) -> int:
        i = self._item_ix.get(item)
        if i is None:
            raise NotFound("not_found.item", details={"item": item[:80]})
        return i

    def similar_positions(self, item: str, n: int) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`similar_items` as arrays: positions in ``item_list`` and scores, best
        first (blends fuse these without building a tuple per candidate)."""
        pairs = self.similar_items(item, n)
        positions = np.array([self._item_ix[o] for o, _ in pairs], dtype=np.int64)
        return positions, np.array([s for _, s in pairs], dtype=np.float64)


class MostPopular(_Fitted):
    """Everyone gets the same list: the most popular items they have not heard."""

    name = "most_popular"

    def fit(self, data: InteractionMatrix) -> MostPopular:
        self.data = data
        self._index(data)
        self._scores = data.popularity().astype(np.float64)
        return self

    def user_scores(self, user: str) -> np.ndarray:
        self._require()
        return self._scores

    def similar_items(self, item: str, n: int = 10) -> list[tuple[str, float]]:
        _check_n(n)
        self._require()
        top = _top(self._scores, n, np.array([self._item_position(item)]))
        return [(self.item_list[j], float(self._scores[j])) for j in top]


class ItemCooccurrence(_Fitted):
    """Item-based CF on cosine similarity of item co-occurrence; see the module docstring."""

    name = "item_cooccurrence"

    def fit(self, data: InteractionMatrix) -> ItemCooccurrence:
        self.data = data
        self._index(data)
        x = (data.confidence > 0).astype(np.float32).tocsc()
        norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=0)).ravel())
        norms[norms == 0] = 1.0
        xn = x @ sparse.diags(1.0 / norms)
        sim = (xn.T @ xn).tocsr()
        sim.setdiag(0)
        sim.eliminate_zeros()
        self._sim = sim
        self._binary = (data.confidence > 0).astype(np.float32).tocsr()
        self._fallback = data.popularity().astype(np.float64)
        return self

    def user_scores(self, user: str) -> np.ndarray:
        data = self._require()
        u = self._user_ix.get(user)
        if u is None:
            scores = np.zeros(len(data.items))
        else:
            scores = np.asarray((self._binary[u] @ self._sim).todense()).ravel()
        # Ties (and users with no usable history) fall back to popularity, scaled below 1e-6.
        return scores + self._fallback / (self._fallback.max() or 1.0) * 1e-6

    def similar_items(self, item: str, n: int = 10) -> list[tuple[str, float]]:
        positions, scores = self.similar_positions(item, n)
        return [(self.item_list[int(j)], float(v)) for j, v in zip(positions, scores, strict=True)]

    def similar_positions(self, item: str, n: int) -> tuple[np.ndarray, np.ndarray]:
        _check_n(n)
        self._require()
        i = self._item_position(item)
        # The similarity row is sparse: rank its non-zeros only (the diagonal is zero).
        start, end = self._sim.indptr[i], self._sim.indptr[i + 1]
        cols, vals = self._sim.indices[start:end], self._sim.data[start:end]
        keep = vals > 0
        cols, vals = cols[keep], vals[keep]
        if len(vals) > n:  # the n best and their ties, in O(nnz), before the exact sort
            cut = np.partition(vals, len(vals) - n)[len(vals) - n]
            keep = vals >= cut
            cols, vals = cols[keep], vals[keep]
        order = np.lexsort((cols, -vals))[:n]
        return cols[order].astype(np.int64), vals[order].astype(np.float64)
