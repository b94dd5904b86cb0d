"""FastAPI dependencies: what a route may ask for, in place of reads of ``app.state``.

The app keeps one :class:`Services` (built at start-up, in the lifespan) and its
:class:`~backbeat.settings.Settings`; routes declare what they use::

    async def route(catalogue: CatalogueDep, _: Reader) -> ...

``Reader``/``Writer``/``Admin`` authenticate the caller and require a scope.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, Request

from backbeat.catalogue import AnalysisWorker, Catalogue, CatalogueModel, RedisQueue
from backbeat.server._auth import Principal, require
from backbeat.settings import Settings
from backbeat.toolkit import Toolkit

log = logging.getLogger("backbeat.server")

__all__ = [
    "Admin",
    "CatalogueDep",
    "Reader",
    "ResultCache",
    "Services",
    "ServicesDep",
    "SettingsDep",
    "Writer",
    "get_services",
]


class ResultCache:
    """Analysis results (features, analysis) by track in the toolkit's cache."""

    def __init__(self, cache: Any) -> None:
        self.cache = cache

    @staticmethod
    def key(kind: str, track_id: str) -> str:
        return f"bb:v1:{kind}:{track_id}"

    async def get(self, kind: str, track_id: str) -> Any:
        return await self.cache.get(self.key(kind, track_id))

    async def set(self, kind: str, track_id: str, value: Any) -> None:
        await self.cache.set(self.key(kind, track_id), value)

    async def invalidate(self, track_id: str) -> None:
        await self.cache.delete_many(
            [self.key("features", track_id), self.key("analysis", track_id)]
        )


@dataclass
class Services:
    """Everything the routes share, built once per app at start-up."""

    settings: Settings
    toolkit: Toolkit
    catalogue: Catalogue
    results: ResultCache
    model: CatalogueModel
    queue: RedisQueue | None = None
    jobs_waiting: asyncio.Event = field(default_factory=asyncio.Event)
    worker: AnalysisWorker | None = None
    registry: Any = None  # backbeat.recommend.ModelRegistry under <data_dir>/models

    async def enqueued(self, track_id: str, audio_sha256: str) -> None:
        """An analysis job was queued: wake the embedded worker, hand it to Redis."""
        await self._handed_over(
            f"analysis of {track_id}",
            lambda queue: queue.enqueue(track_id, audio_sha256),
        )

    async def training_requested(self, job_id: str) -> None:
        """A training job was queued: wake the embedded worker, hand it to Redis."""
        await self._handed_over(f"training {job_id}", lambda queue: queue.enqueue_training(job_id))

    async def _handed_over(self, what: str, send: Callable[[RedisQueue], Awaitable[None]]) -> None:
        # The table keeps every job: if Redis is down, polling workers still see it.
        from redis.exceptions import RedisError

        self.jobs_waiting.set()
        if self.queue is None:
            return
        try:
            await send(self.queue)
        except (OSError, ConnectionError, RedisError) as exc:
            log.warning("could not enqueue %s (%s)", what, type(exc).__name__)


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_catalogue(request: Request) -> Catalogue:
    return get_services(request).catalogue


ServicesDep = Annotated[Services, Depends(get_services)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
CatalogueDep = Annotated[Catalogue, Depends(get_catalogue)]
Reader = Annotated[Principal, Depends(require("read"))]
Writer = Annotated[Principal, Depends(require("write"))]
Admin = Annotated[Principal, Depends(require("admin"))]
