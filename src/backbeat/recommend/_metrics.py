"""Offline ranking metrics (binary relevance) and catalogue-level measures.

- ``recall@k`` = |relevant in top k| / min(k, |relevant|) (the capped form, so a
  perfect list scores 1 even when a user has more than k relevant items);
- ``ndcg@k``: DCG with gain 1 and discount 1/log2(rank + 1), over the ideal DCG
  (Järvelin & Kekäläinen, TOIS 2002);
- ``map@k``: mean over users of average precision at k, normalised by
  min(k, |relevant|);
- coverage: share of the catalogue recommended to anyone;
- popularity bias: mean popularity percentile of recommended items (1 = only hits);
- intra-list diversity: mean pairwise distance between items of a list, given
  item vectors (1 - cosine similarity).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

__all__ = [
    "average_precision_at_k",
    "catalogue_coverage",
    "intra_list_diversity",
    "ndcg_at_k",
    "popularity_bias",
    "recall_at_k",
]


def recall_at_k(ranked: Sequence[str], relevant: set[str], k: int) -> float:
    if not relevant:
        return 0.0
    hits = sum(1 for item in ranked[:k] if item in relevant)
    return hits / min(k, len(relevant))


def ndcg_at_k(ranked: Sequence[str], relevant: set[str], k: int) -> float:
    if not relevant:
        return 0.0
    dcg = sum(1 / math.log2(r + 2) for r, item in enumerate(ranked[:k]) if item in relevant)
    ideal = sum(1 / math.log2(r + 2) for r in range(min(k, len(relevant))))
    return dcg / ideal


def average_precision_at_k(ranked: Sequence[str], relevant: set[str], k: int) -> float:
    if not relevant:
        return 0.0
    hits, total = 0, 0.0
    for r, item in enumerate(ranked[:k]):
        if item in relevant:
            hits += 1
            total += hits / (r + 1)
    return total / min(k, len(relevant))


def catalogue_coverage(lists: Sequence[Sequence[str]], n_items: int) -> float:
    if n_items <= 0:
        return 0.0
    return len({item for lst in lists for item in lst}) / n_items


def popularity_bias(lists: Sequence[Sequence[str]], popularity: Mapping[str, float]) -> float:
    """Mean popularity percentile (0..1) of recommended items."""
    if not popularity:
        return 0.0
    values = np.array(sorted(popularity.values()))
    pct = {
        item: float(np.searchsorted(values, p, side="right")) / len(values)
        for item, p in popularity.items()
    }
    recommended = [pct.get(item, 0.0) for lst in lists for item in lst]
    return float(np.mean(recommended)) if recommended else 0.0


def intra_list_diversity(
    lists: Sequence[Sequence[str]], vectors: Mapping[str, np.ndarray]
) -> float:
    """Mean over lists of the mean pairwise cosine distance of their items."""
    scores = []
    for lst in lists:
        vecs = [vectors[i] for i in lst if i in vectors]
        if len(vecs) < 2:
            continue
        m = np.asarray(vecs, dtype=np.float64)
        norms = np.linalg.norm(m, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        m = m / norms
        sim = m @ m.T
        n = len(vecs)
        mean_sim = (sim.sum() - np.trace(sim)) / (n * (n - 1))
        scores.append(1.0 - mean_sim)
    return float(np.mean(scores)) if scores else 0.0
