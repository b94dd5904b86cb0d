"""Async faces of the model registry, for applications (and the seed's suite keys).

``ModelManager`` is the seed README's ``model_manager``: ``await
manager.get_model(name)`` loads the production version (else the latest) in a
worker thread. ``RecommendationEngine`` is its ``recommendation_engine``: the
registry's production model for one name, reloaded when a newer version is
promoted, answering ``recommend(user_id)`` and ``similar(track_id)`` off the event
loop. Both read the registry that ``backbeat recommend train`` writes
(``<BACKBEAT_DATA_DIR>/models`` by default).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import anyio.to_thread

from backbeat.errors import NotFound, ValidationError
from backbeat.recommend._baselines import _Fitted
from backbeat.recommend._registry import ModelRegistry, ModelVersion
from backbeat.recommend._weekly import WeeklyPick, discover_weekly, iso_week

__all__ = ["ModelManager", "RecommendationEngine"]


class ModelManager:
    """``await get_model(name)``: registered models, loaded without blocking the loop."""

    def __init__(self, registry: ModelRegistry | str | Path) -> None:
        self.registry = registry if isinstance(registry, ModelRegistry) else ModelRegistry(registry)

    def current(self, name: str, version: str | int = "production") -> ModelVersion:
        """The version ``get_model`` would load: ``production`` falls back to the latest."""
        try:
            return self.registry.resolve(name, version)
        except NotFound:
            if version != "production":
                raise
            return self.registry.resolve(name, "latest")

    async def get_model(self, name: str, version: str | int = "production") -> _Fitted:
        """Load a model; raises ``NotFound`` when ``name`` has no registered version."""
        chosen = self.current(name, version)
        return await anyio.to_thread.run_sync(self.registry.get_model, name, chosen.version)


class RecommendationEngine:
    """Recommendations from the registry's production model for ``name``."""

    def __init__(self, manager: ModelManager, name: str = "recommendation") -> None:
        self.manager = manager
        self.name = name
        self._loaded: tuple[int, _Fitted] | None = None
        self._lock = asyncio.Lock()

    async def model(self) -> tuple[ModelVersion, _Fitted]:
        """The production model, reloaded when another version has been promoted."""
        async with self._lock:
            version = await anyio.to_thread.run_sync(self.manager.current, self.name)
            if self._loaded is None or self._loaded[0] != version.version:
                model = await self.manager.get_model(self.name, version.version)
                self._loaded = (version.version, model)
            return version, self._loaded[1]

    async def recommend(self, user_id: str, n: int = 10) -> list[tuple[str, float]]:
        """The ``n`` best unseen tracks for ``user_id`` (cold users: the model's fallback)."""
        _, model = await self.model()
        return await anyio.to_thread.run_sync(lambda: model.recommend(user_id, n))

    async def generate(
        self,
        user_id: str,
        *,
        type: str = "discover_weekly",
        week: str | None = None,
        artists: Mapping[str, Sequence[str]] | None = None,
        size: int = 30,
        **_seed_context: Any,
    ) -> list[WeeklyPick]:
        """The seed's ``generate(user_id=..., type="discover_weekly")``: the user's playlist
        for ``week`` (default: this ISO week) from the production model and the user's
        history as the model saw it (most played first). ``artists`` enables the
        two-per-artist cap. The seed's other keywords (``features``, ``ml_predictions``)
        are accepted and not used: the playlist is personal, not per track."""
        if type != "discover_weekly":
            raise ValidationError(
                "recommend.playlist_type",
                details={"type": type},
                message="Unknown playlist type {type!r}; use discover_weekly.",
            )
        _, model = await self.model()
        data = model.data
        played: list[str] = []
        if data is not None and user_id in data.user_index:
            row = data.confidence.getrow(data.user_index[user_id])
            order = row.indices[(-row.data).argsort(kind="stable")]
            played = [data.items[i] for i in order]
        return await anyio.to_thread.run_sync(
            lambda: discover_weekly(
                model,
                user_id,
                week=week or iso_week(),
                played=played,
                artists=artists,
                size=size,
            )
        )

    async def similar(self, track_id: str, n: int = 10) -> list[tuple[str, float]]:
        """Tracks like ``track_id`` by the model's item similarity."""
        _, model = await self.model()
        return await anyio.to_thread.run_sync(lambda: model.similar_items(track_id, n))
