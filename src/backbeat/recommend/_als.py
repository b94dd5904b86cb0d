"""Collaborative filtering by ALS for implicit feedback (Hu, Koren & Volinsky, ICDM 2008).

The engine is the ``implicit`` library's conjugate-gradient ALS (compiled, the
field's reference implementation; it installs from wheels here and trains a
2,000 x 3,000 log in well under a second). We wrap it behind backbeat's
:class:`~backbeat.recommend.Recommender` protocol, score with plain numpy
(``item_factors @ user_factor``) and save models as ``.npz`` factors plus JSON
metadata: no pickle, so a model file can come from anywhere without running
code.

Confidence is ``1 + alpha * c`` for the weighted counts ``c`` of
:class:`~backbeat.recommend.InteractionMatrix` (the paper's linear scaling).
Users unseen at training time get the most popular items they have not heard.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse

from backbeat.errors import ValidationError
from backbeat.recommend._baselines import _check_n, _Fitted
from backbeat.recommend._data import InteractionMatrix
from backbeat.recommend._index import VectorIndex, build_index
from backbeat.recommend._index import top_k as _top

__all__ = ["ALS"]


class ALS(_Fitted):
    """Implicit-feedback matrix factorisation; ``factors`` latent dimensions."""

    name = "als"

    def __init__(
        self,
        *,
        factors: int = 64,
        regularization: float = 0.05,
        alpha: float = 20.0,
        iterations: int = 15,
        seed: int = 0,
        index: str = "auto",
    ) -> None:
        if factors < 1 or iterations < 1 or regularization < 0 or alpha <= 0:
            raise ValidationError(
                "validation.als_params",
                message="ALS needs factors, iterations and alpha > 0 and regularization >= 0.",
            )
        self.params: dict[str, Any] = {
            "factors": factors,
            "regularization": regularization,
            "alpha": alpha,
            "iterations": iterations,
            "seed": seed,
        }
        self.index_kind = index
        self.index: VectorIndex | None = None
        self.user_factors = np.empty((0, factors), dtype=np.float32)
        self.item_factors = np.empty((0, factors), dtype=np.float32)

    def fit(self, data: InteractionMatrix) -> ALS:
        from implicit.als import AlternatingLeastSquares
        from threadpoolctl import threadpool_limits

        p = self.params
        # implicit parallelises itself; a BLAS thread pool underneath only contends
        # (implicit checks, and warns, when the model is built).
        with threadpool_limits(1, "blas"):
            model = AlternatingLeastSquares(
                factors=p["factors"],
                regularization=p["regularization"],
                alpha=p["alpha"],
                iterations=p["iterations"],
                random_state=p["seed"],
                calculate_training_loss=False,
            )
            model.fit(sparse.csr_matrix(data.confidence, dtype=np.float32), show_progress=False)
        if hasattr(model, "to_cpu"):
            model = model.to_cpu()
        self.user_factors = np.asarray(model.user_factors, dtype=np.float32)
        self.item_factors = np.asarray(model.item_factors, dtype=np.float32)
        self._attach(data)
        return self

    def _attach(self, data: InteractionMatrix) -> None:
        self.data = data
        self._index(data)
        self._popularity = data.popularity().astype(np.float64)
        norms = np.linalg.norm(self.item_factors, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        self._unit_items = self.item_factors / norms
        self.index = build_index(self.item_factors, kind=self.index_kind)

    def recommend(
        self, user: str, n: int = 10, *, exclude_seen: bool = True
    ) -> list[tuple[str, float]]:
        """Top ``n`` by inner product, through the nearest-neighbour index."""
        _check_n(n)
        self._require()
        u = self._user_ix.get(user)
        if u is None or self.index is None:
            return super().recommend(user, n, exclude_seen=exclude_seen)
        query = self.user_factors[u]
        top = self.index.search(query, n, self._seen(user) if exclude_seen else None)
        return [(self.item_list[i], float(self.item_factors[i] @ query)) for i in top]

    def user_scores(self, user: str) -> np.ndarray:
        self._require()
        u = self._user_ix.get(user)
        if u is None:
            return self._popularity
        scores: np.ndarray = self.item_factors @ self.user_factors[u]
        return scores

    def similar_items(self, item: str, n: int = 10) -> list[tuple[str, float]]:
        _check_n(n)
        self._require()
        i = self._item_position(item)
        scores = self._unit_items @ self._unit_items[i]
        top = _top(scores, n, np.array([i]))
        return [(self.item_list[j], float(scores[j])) for j in top]

    # -- persistence (no pickle) ---------------------------------------------------------

    def save(self, path: str | Path) -> None:
        """Write the model to one ``.npz`` file (see :mod:`backbeat.recommend._persist`)."""
        from backbeat.recommend._persist import save_model

        save_model(self, path)

    @classmethod
    def load(cls, path: str | Path) -> ALS:
        """Read an ALS model written by :meth:`save`."""
        from backbeat.recommend._persist import load_model

        model = load_model(path)
        if not isinstance(model, cls):
            raise ValidationError(
                "validation.model_file",
                details={"path": str(path)},
                message="{path} is not a readable backbeat model.",
            )
        return model
