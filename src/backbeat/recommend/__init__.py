"""Recommendations from your own listening data (extra ``ml``): first slice.

Built so far: listening events and the implicit-feedback confidence matrix
(:class:`InteractionMatrix`, documented :class:`Weighting`), a seeded synthetic
log generator with planted taste clusters, the time-based split, the
:class:`Recommender` protocol with the :class:`MostPopular` and
:class:`ItemCooccurrence` baselines, :class:`ALS` (implicit feedback, on the
``implicit`` library; ``.npz`` persistence), :class:`ContentBased` (audio
features, genres, artists) and :class:`Hybrid`, ranking metrics,
:func:`evaluate` and ``backbeat recommend evaluate``, and Spotify's seed/target
semantics (:func:`recommend_from_seeds`, :func:`related_artists`), and a
versioned :class:`ModelRegistry` and :func:`save_model`/:func:`load_model` for
every model, exact and HNSW indexes, a random-search :func:`tune_als, tune_hybrid`, and events
from CSV/JSONL files, and :class:`PgVectorStore` (item vectors in PostgreSQL with
pgvector's HNSW index).
"""

from typing import TYPE_CHECKING

from backbeat.recommend._als import ALS
from backbeat.recommend._baselines import ItemCooccurrence, MostPopular, Recommender
from backbeat.recommend._catalogue import Catalogue, Track
from backbeat.recommend._content import ContentBased
from backbeat.recommend._data import EventKind, Interaction, InteractionMatrix, Weighting
from backbeat.recommend._engine import ModelManager, RecommendationEngine
from backbeat.recommend._evaluate import evaluate, evaluate_synthetic
from backbeat.recommend._hybrid import ColdStartBlend, Hybrid
from backbeat.recommend._io import iter_events, load_events
from backbeat.recommend._metrics import (
    average_precision_at_k,
    catalogue_coverage,
    intra_list_diversity,
    ndcg_at_k,
    popularity_bias,
    recall_at_k,
)
from backbeat.recommend._persist import forget_user, load_model, save_model
from backbeat.recommend._pgvector import PgVectorStore
from backbeat.recommend._registry import (
    ModelRegistry,
    ModelVersion,
    data_fingerprint,
    predict_async,
)
from backbeat.recommend._split import TimeSplit, time_split
from backbeat.recommend._spotify import (
    TUNABLE,
    Recommendations,
    recommend_from_seeds,
    related_artists,
)
from backbeat.recommend._synthetic import SyntheticLog, synthetic_log
from backbeat.recommend._train import (
    RECIPES,
    TrainResult,
    build_recipe,
    offline_score,
    train_and_register,
)
from backbeat.recommend._tune import TuningResult, tune_als, tune_hybrid
from backbeat.recommend._weekly import WeeklyPick, discover_weekly, iso_week

if TYPE_CHECKING:
    from backbeat.recommend._serve import create_model_app

__all__ = [
    "ALS",
    "RECIPES",
    "TUNABLE",
    "Catalogue",
    "ColdStartBlend",
    "ContentBased",
    "EventKind",
    "Hybrid",
    "Interaction",
    "InteractionMatrix",
    "ItemCooccurrence",
    "ModelManager",
    "ModelRegistry",
    "ModelVersion",
    "MostPopular",
    "PgVectorStore",
    "RecommendationEngine",
    "Recommendations",
    "Recommender",
    "SyntheticLog",
    "TimeSplit",
    "Track",
    "TrainResult",
    "TuningResult",
    "WeeklyPick",
    "Weighting",
    "average_precision_at_k",
    "build_recipe",
    "catalogue_coverage",
    "create_model_app",
    "data_fingerprint",
    "discover_weekly",
    "evaluate",
    "evaluate_synthetic",
    "forget_user",
    "intra_list_diversity",
    "iso_week",
    "iter_events",
    "load_events",
    "load_model",
    "ndcg_at_k",
    "offline_score",
    "popularity_bias",
    "predict_async",
    "recall_at_k",
    "recommend_from_seeds",
    "related_artists",
    "save_model",
    "synthetic_log",
    "time_split",
    "train_and_register",
    "tune_als",
    "tune_hybrid",
]


def __getattr__(name: str) -> object:
    # The model server needs the server extra (FastAPI): imported only when asked for.
    if name == "create_model_app":
        from backbeat.recommend._serve import create_model_app

        return create_model_app
    raise AttributeError(f"module 'backbeat.recommend' has no attribute {name!r}")
