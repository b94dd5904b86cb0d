"""Recommendations from your own listening data (extra ``ml``): first slice.

Built so far: listening events and the implicit-feedback confidence matrix
(:class:`InteractionMatrix`, documented :class:`Weighting`), a seeded synthetic
log generator with planted taste clusters, the time-based split, the
:class:`Recommender` protocol with the :class:`MostPopular` and
:class:`ItemCooccurrence` baselines, :class:`ALS` (implicit feedback, on the
``implicit`` library; ``.npz`` persistence), ranking metrics and :func:`evaluate`.
Content-based and hybrid models, Spotify seed/target semantics, ANN and
pgvector indexes, the model registry and tuning come next (issue 8).
"""

from backbeat.recommend._als import ALS
from backbeat.recommend._baselines import ItemCooccurrence, MostPopular, Recommender
from backbeat.recommend._data import EventKind, Interaction, InteractionMatrix, Weighting
from backbeat.recommend._evaluate import evaluate
from backbeat.recommend._metrics import (
    average_precision_at_k,
    catalogue_coverage,
    intra_list_diversity,
    ndcg_at_k,
    popularity_bias,
    recall_at_k,
)
from backbeat.recommend._split import TimeSplit, time_split
from backbeat.recommend._synthetic import SyntheticLog, synthetic_log

__all__ = [
    "ALS",
    "EventKind",
    "Interaction",
    "InteractionMatrix",
    "ItemCooccurrence",
    "MostPopular",
    "Recommender",
    "SyntheticLog",
    "TimeSplit",
    "Weighting",
    "average_precision_at_k",
    "catalogue_coverage",
    "evaluate",
    "intra_list_diversity",
    "ndcg_at_k",
    "popularity_bias",
    "recall_at_k",
    "synthetic_log",
    "time_split",
]
