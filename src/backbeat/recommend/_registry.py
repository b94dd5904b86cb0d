"""A versioned model registry on disk: ``<root>/<name>/<version>/{model.npz, meta.json}``.

Each version records the model's kind and parameters, a fingerprint of its
training data (SHA-256 over the interaction matrix), its offline metrics and its
creation time. ``production`` is a pointer (``<root>/<name>/production``) moved
by :meth:`ModelRegistry.promote`; :meth:`ModelRegistry.rollback` moves it back
to the version promoted before. Any fitted recommender can be registered; files
are ``.npz`` (``allow_pickle=False``) and JSON: loading a model never runs code
from the file. The seed's
``model_manager.get_model('recommendation_v2')`` is :meth:`get_model`, and
:func:`predict_async` runs a model's ``recommend`` off the event loop.
"""

from __future__ import annotations

import builtins
import datetime as dt
import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backbeat.errors import NotFound, ValidationError
from backbeat.recommend._baselines import _Fitted
from backbeat.recommend._data import InteractionMatrix
from backbeat.recommend._persist import load_model, save_model

__all__ = ["ModelRegistry", "ModelVersion", "data_fingerprint", "predict_async"]


def data_fingerprint(data: InteractionMatrix) -> str:
    """SHA-256 over users, items and confidences: which data a model was trained on."""
    h = hashlib.sha256()
    h.update(json.dumps([data.users, data.items]).encode())
    m = data.confidence.tocsr()
    for part in (m.indptr, m.indices, m.data):
        h.update(part.tobytes())
    return h.hexdigest()


@dataclass(frozen=True)
class ModelVersion:
    name: str
    version: int
    kind: str
    params: Mapping[str, Any]
    metrics: Mapping[str, float]
    data_fingerprint: str
    created_at: str
    path: Path


class ModelRegistry:
    """Register, find, promote and roll back models under one directory."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def _dir(self, name: str) -> Path:
        if not name or not all(c.isalnum() or c in "-_." for c in name) or name.startswith("."):
            raise ValidationError(
                "validation.model_name",
                details={"name": name[:60]},
                message="A model name uses letters, digits, '-', '_' or '.', got {name!r}.",
            )
        return self.root / name

    def register(
        self,
        name: str,
        model: _Fitted,
        *,
        metrics: Mapping[str, float] | None = None,
        study: Mapping[str, Any] | None = None,
    ) -> ModelVersion:
        """Save a fitted ``model`` (any kind) as the next version of ``name``.

        ``study``: how it was chosen (a tuning study's best parameters and trials), kept
        in ``meta.json`` beside params, metrics and the training-data fingerprint.
        """
        base = self._dir(name)
        base.mkdir(parents=True, exist_ok=True)
        version = 1 + max((v.version for v in self.list(name)), default=0)
        path = base / str(version)
        path.mkdir()
        save_model(model, path / "model.npz")
        meta = {
            "name": name,
            "version": version,
            "kind": model.name,
            "params": getattr(model, "params", {}),
            "metrics": dict(metrics or {}),
            "data_fingerprint": data_fingerprint(model._require()),
            "created_at": dt.datetime.now(dt.UTC).isoformat(),
        }
        if study:
            meta["study"] = dict(study)
        (path / "meta.json").write_text(json.dumps(meta, indent=2, sort_keys=True))
        return self._version(path)

    def _version(self, path: Path) -> ModelVersion:
        meta = json.loads((path / "meta.json").read_text())
        return ModelVersion(
            meta["name"],
            int(meta["version"]),
            meta["kind"],
            meta["params"],
            meta["metrics"],
            meta["data_fingerprint"],
            meta["created_at"],
            path,
        )

    def list(self, name: str) -> builtins.list[ModelVersion]:
        base = self._dir(name)
        if not base.exists():
            return []
        versions = [p for p in base.iterdir() if p.is_dir() and p.name.isdigit()]
        return sorted((self._version(p) for p in versions), key=lambda v: v.version)

    def resolve(self, name: str, version: str | int = "latest") -> ModelVersion:
        versions = {v.version: v for v in self.list(name)}
        if not versions:
            raise NotFound("not_found.model", details={"name": name})
        if version == "latest":
            return versions[max(versions)]
        if version == "production":
            history = self._history(name)
            if not history:
                raise NotFound("not_found.model", details={"name": name})
            return versions[history[-1]]
        number = int(version)
        if number not in versions:
            raise NotFound("not_found.model", details={"name": name, "version": number})
        return versions[number]

    def get_model(self, name: str, version: str | int = "latest") -> _Fitted:
        """Load a registered model (``"latest"``, ``"production"`` or a number)."""
        return load_model(self.resolve(name, version).path / "model.npz")

    def production_version(self, name: str) -> int | None:
        """The production version's number, from its pointer file alone (cheap enough to
        ask on every request); ``None`` when nothing was promoted."""
        try:
            history = self._history(name)
        except (OSError, ValueError):  # mid-replace on a file system without atomic rename
            return None
        return history[-1] if history else None

    def _history_file(self, name: str) -> Path:
        return self._dir(name) / "production.json"

    def _history(self, name: str) -> builtins.list[int]:
        f = self._history_file(name)
        return [int(v) for v in json.loads(f.read_text())] if f.exists() else []

    def _write_history(self, name: str, history: builtins.list[int]) -> None:
        f = self._history_file(name)
        tmp = f.with_suffix(".tmp")
        tmp.write_text(json.dumps(history))
        os.replace(tmp, f)  # atomic: readers see the old or the new pointer

    def promote(self, name: str, version: int) -> ModelVersion:
        """Make ``version`` the production model (the previous one is kept for rollback)."""
        v = self.resolve(name, version)
        self._write_history(name, [*self._history(name), v.version])
        return v

    def rollback(self, name: str) -> ModelVersion:
        """Return production to the version promoted before the current one."""
        history = self._history(name)
        if len(history) < 2:
            raise ValidationError(
                "validation.model_rollback",
                details={"name": name},
                message="Model {name!r} has no earlier production version to roll back to.",
            )
        self._write_history(name, history[:-1])
        return self.resolve(name, "production")


async def predict_async(model: _Fitted, user: str, n: int = 10) -> list[tuple[str, float]]:
    """``model.recommend(user, n)`` in a worker thread (numpy releases the GIL)."""
    import anyio.to_thread

    return await anyio.to_thread.run_sync(lambda: model.recommend(user, n))
