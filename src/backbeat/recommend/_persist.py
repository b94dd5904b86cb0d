"""Saving and loading every recommender as one ``.npz`` file (never pickle).

A model file holds JSON metadata (format, kind, parameters, users, items), the
training matrix, and what cannot be recomputed cheaply and identically: ALS
factors (training is randomised and costly) and the catalogue of content
models. Deterministic models (most-popular, co-occurrence, content) are refitted
from the stored matrix on load, which reproduces them exactly. A hybrid stores
its components' kinds, weights and states under per-component prefixes.
``np.load(..., allow_pickle=False)``: reading a model file never runs code.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse

from backbeat.errors import ValidationError
from backbeat.recommend._als import ALS
from backbeat.recommend._baselines import ItemCooccurrence, MostPopular, _Fitted
from backbeat.recommend._catalogue import Catalogue, Track
from backbeat.recommend._content import ContentBased
from backbeat.recommend._data import InteractionMatrix
from backbeat.recommend._hybrid import Hybrid

__all__ = ["forget_user", "load_model", "save_model"]

FORMAT = "backbeat.recommender.v1"


def _catalogue_json(catalogue: Catalogue) -> list[dict[str, Any]]:
    return [
        {
            "id": t.id,
            "artists": list(t.artists),
            "genres": list(t.genres),
            "popularity": t.popularity,
            "features": dict(t.features),
        }
        for t in catalogue.tracks.values()
    ]


def _catalogue_from(rows: list[dict[str, Any]]) -> Catalogue:
    return Catalogue(
        Track(
            r["id"], tuple(r["artists"]), tuple(r["genres"]), float(r["popularity"]), r["features"]
        )
        for r in rows
    )


def _describe(model: _Fitted, prefix: str, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    if isinstance(model, ALS):
        arrays[f"{prefix}user_factors"] = model.user_factors
        arrays[f"{prefix}item_factors"] = model.item_factors
        raw = model.similar_index_bytes()
        if raw is not None:  # rebuilding it costs ~30 s at 100k items: store it
            arrays[f"{prefix}similar_hnsw"] = np.frombuffer(raw, dtype=np.uint8)
        return {"kind": "als", "params": model.params}
    if isinstance(model, ContentBased):
        f, g, a = model.weights
        return {
            "kind": "content",
            "catalogue": _catalogue_json(model.catalogue),
            "params": {"feature_weight": f, "genre_weight": g, "artist_weight": a},
        }
    if isinstance(model, Hybrid):
        parts = [
            {**_describe(c, f"{prefix}c{i}_", arrays), "weight": w}
            for i, (c, w) in enumerate(model.components)
        ]
        return {"kind": "hybrid", "components": parts}
    if isinstance(model, MostPopular | ItemCooccurrence):
        return {"kind": model.name}
    raise ValidationError(
        "validation.model_kind",
        details={"kind": getattr(model, "name", "?")},
        message="Models of kind {kind!r} cannot be saved.",
    )


def save_model(model: _Fitted, path: str | Path) -> None:
    """Write a fitted model to ``path`` (an ``.npz`` file)."""
    data = model._require()
    arrays: dict[str, np.ndarray] = {}
    spec = _describe(model, "", arrays)
    meta = {"format": FORMAT, "model": spec, "users": list(data.users), "items": list(data.items)}
    conf, seen = data.confidence.tocsr(), data.seen.tocsr()
    arrays.update(
        meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
        conf_data=conf.data,
        conf_indices=conf.indices,
        conf_indptr=conf.indptr,
        seen_indices=seen.indices,
        seen_indptr=seen.indptr,
    )
    with open(path, "wb") as f:
        np.savez_compressed(f, **arrays)  # type: ignore[arg-type]


def _build(spec: dict[str, Any], prefix: str, z: Any) -> _Fitted:
    kind = spec["kind"]
    if kind == "als":
        model = ALS(**spec["params"])
        model.user_factors = z[f"{prefix}user_factors"]
        model.item_factors = z[f"{prefix}item_factors"]
        if f"{prefix}similar_hnsw" in z.files:
            model.load_similar_index(z[f"{prefix}similar_hnsw"].tobytes())
        return model
    if kind == "content":
        return ContentBased(_catalogue_from(spec["catalogue"]), **spec["params"])
    if kind == "hybrid":
        return Hybrid(
            [
                (_build(part, f"{prefix}c{i}_", z), float(part["weight"]))
                for i, part in enumerate(spec["components"])
            ]
        )
    if kind == "most_popular":
        return MostPopular()
    if kind == "item_cooccurrence":
        return ItemCooccurrence()
    raise ValueError(f"unknown model kind {kind!r}")


def _restore(model: _Fitted, data: InteractionMatrix) -> None:
    if isinstance(model, ALS):
        model._attach(data)  # factors are stored: no retraining
    elif isinstance(model, Hybrid):
        for component, _ in model.components:
            _restore(component, data)
        model.fit_combination(data)
    else:
        model.fit(data)


def load_model(path: str | Path) -> _Fitted:
    """Read a model written by :func:`save_model`; ``ValidationError`` for anything else."""
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(z["meta"].tobytes().decode())
            if meta.get("format") != FORMAT:
                raise ValueError("not a backbeat recommender file")
            shape = (len(meta["users"]), len(meta["items"]))
            conf = sparse.csr_matrix(
                (z["conf_data"], z["conf_indices"], z["conf_indptr"]), shape=shape
            )
            seen = sparse.csr_matrix(
                (np.ones(len(z["seen_indices"]), dtype=bool), z["seen_indices"], z["seen_indptr"]),
                shape=shape,
            )
            model = _build(meta["model"], "", z)
    except (OSError, KeyError, ValueError, TypeError) as e:
        raise ValidationError(
            "validation.model_file",
            details={"path": str(path)},
            message="{path} is not a readable backbeat model.",
        ) from e
    data = InteractionMatrix(tuple(meta["users"]), tuple(meta["items"]), conf, seen)
    _restore(model, data)
    return model


def forget_user(path: str | Path, user: str, replacement: str) -> bool:
    """Remove ``user`` from the model file at ``path`` in place (GDPR erasure): their row of
    the training matrix is emptied (the deterministic models refit from it on load), their
    ALS factors are zeroed, and their ID is replaced by ``replacement`` so that the file
    keeps its shape and still loads. Returns whether the user was in the file."""
    with np.load(path, allow_pickle=False) as z:
        arrays = {name: z[name] for name in z.files}
    meta = json.loads(arrays["meta"].tobytes().decode())
    users: list[str] = meta["users"]
    if user not in users:
        return False
    row = users.index(user)
    users[row] = replacement
    meta["erased_users"] = int(meta.get("erased_users", 0)) + 1
    shape = (len(users), len(meta["items"]))
    for prefix in ("conf", "seen"):
        data = arrays.get(f"{prefix}_data")
        indices, indptr = arrays[f"{prefix}_indices"], arrays[f"{prefix}_indptr"]
        if data is None:
            data = np.ones(len(indices), dtype=bool)
        matrix = sparse.csr_matrix((data, indices, indptr), shape=shape).tolil()
        matrix.rows[row] = []
        matrix.data[row] = []
        kept = matrix.tocsr()
        kept.eliminate_zeros()
        arrays[f"{prefix}_indices"], arrays[f"{prefix}_indptr"] = kept.indices, kept.indptr
        if f"{prefix}_data" in arrays:
            arrays[f"{prefix}_data"] = kept.data
    for name, values in arrays.items():
        if name.endswith("user_factors"):
            values = values.copy()
            values[row] = 0
            arrays[name] = values
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    target = Path(path)
    tmp = target.with_name(target.name + ".erasing")
    with open(tmp, "wb") as f:
        np.savez_compressed(f, **arrays)
    tmp.replace(target)
    return True
