"""The model behind ``/v1/recommendations``: the registry's production model, blended with
content over the catalogue.

When the registry (``<BACKBEAT_DATA_DIR>/models``, the one ``backbeat recommend train``
writes) has a promoted version of ``name``, the served model is a
:class:`backbeat.recommend.ColdStartBlend` of that collaborative model and
:class:`backbeat.recommend.ContentBased` over every registered track: warm tracks are
ranked by who listens to them alone, cold tracks (registered since training) enter
through content with weight :data:`CONTENT_WEIGHT`, and cold seeds get content
neighbours. With nothing promoted,
content alone serves, as before.

Rebuilt when the catalogue changes (a fingerprint query: track and analysis counts and
latest timestamps, so analyses finished by a separate worker count too) or when the
production pointer moves; both are read at most every :data:`POINTER_CHECK_S` seconds,
in every process, so a promotion or a new analysis reaches every worker within a second
and without a restart, and a request costs no aggregate query. The rebuild runs in a
worker thread by the request that found the model stale; requests arriving meanwhile are
answered by the current model rather than waiting. A request holds the
:class:`FittedCatalogue` it started with, so it is answered wholly by the old version or
wholly by the new one, never a mix.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from backbeat.catalogue._records import TrackRecord
from backbeat.catalogue._tracks import TrackRepository
from backbeat.errors import BackbeatError, NotFound
from backbeat.spotify import AUDIO_FEATURES

__all__ = ["CONTENT_WEIGHT", "POINTER_CHECK_S", "CatalogueModel", "FittedCatalogue"]

log = logging.getLogger("backbeat.recommendations")

CONTENT_WEIGHT = 0.3
POINTER_CHECK_S = 1.0


@dataclass(frozen=True, slots=True)
class FittedCatalogue:
    """A fitted model, the recommend-side catalogue it ranks, and the tracks' records."""

    model: Any  # a backbeat.recommend model (_Fitted)
    catalogue: Any  # backbeat.recommend.Catalogue
    records: dict[str, TrackRecord]
    version: int | None = None  # the registry's production version in use, if any
    content: Any = None  # the content model alone (cold users, explanations)
    artists: dict[str, tuple[str, ...]] = field(default_factory=dict)  # track -> artist ids

    @property
    def label(self) -> str:
        """What answered: ``<name> v<n>`` or ``content``."""
        return f"v{self.version}" if self.version is not None else "content"


class CatalogueModel:
    """The served model, rebuilt when the catalogue or the production version changes."""

    def __init__(
        self, tracks: TrackRepository, registry: Any = None, name: str = "recommendation"
    ) -> None:
        self.tracks = tracks
        self.registry = registry  # a backbeat.recommend.ModelRegistry, or None: content only
        self.name = name
        self._built: tuple[tuple[Any, ...], FittedCatalogue] | None = None
        self._lock = asyncio.Lock()
        self._pointer: tuple[float, int | None] = (-1e9, None)
        self._catalogue_seen: tuple[float, tuple[Any, ...]] = (-1e9, ())

    def production_version(self) -> int | None:
        """The promoted version, re-read from the registry at most every POINTER_CHECK_S."""
        if self.registry is None:
            return None
        checked, version = self._pointer
        if time.monotonic() - checked >= POINTER_CHECK_S:
            version = self.registry.production_version(self.name)
            self._pointer = (time.monotonic(), version)
        return version

    @property
    def current(self) -> FittedCatalogue | None:
        """The last model built, without checking for changes (for ``/health``)."""
        return self._built[1] if self._built is not None else None

    async def get(self) -> FittedCatalogue:
        """The current model; raises ``NotFound`` when the catalogue is empty.

        The request that finds the model stale rebuilds it (in a thread); requests that
        arrive meanwhile are answered by the model being replaced rather than waiting
        (a rebuild takes seconds on a large catalogue)."""
        version = self.production_version()
        checked, known = self._catalogue_seen
        if time.monotonic() - checked >= POINTER_CHECK_S:
            if known:  # the others keep the last fingerprint while one reader refreshes it
                self._catalogue_seen = (time.monotonic(), known)
            known = await self.tracks.fingerprint()  # two aggregate queries: not per request
            self._catalogue_seen = (time.monotonic(), known)
        fingerprint = (*known, version)
        built = self._built
        if built is not None and (built[0] == fingerprint or self._lock.locked()):
            return built[1]
        async with self._lock:
            if self._built is None or self._built[0] != fingerprint:
                rows = await self.tracks.with_features()
                fitted = await asyncio.to_thread(self._fit, rows, version)
                self._built = (fingerprint, fitted)
            return self._built[1]

    def _fit(
        self, rows: list[tuple[TrackRecord, dict[str, Any] | None]], version: int | None
    ) -> FittedCatalogue:
        from backbeat.recommend import (
            Catalogue,
            ColdStartBlend,
            ContentBased,
            InteractionMatrix,
            Track,
        )

        if not rows:
            raise NotFound(details={"catalogue": "empty"})
        tracks = [
            Track(
                id=record.id,
                artists=tuple(a["id"] for a in record.artists),
                genres=tuple(record.genres),
                popularity=float(record.popularity or 0),
                features={k: float(features[k]) for k in AUDIO_FEATURES} if features else {},
            )
            for record, features in rows
        ]
        catalogue = Catalogue(tracks)
        content = ContentBased(catalogue).fit(InteractionMatrix.build([], items=catalogue.ids))
        records = {r.id: r for r, _ in rows}
        artists = {t.id: t.artists for t in tracks}
        if version is None:
            return FittedCatalogue(content, catalogue, records, None, content, artists)
        try:
            trained = self.registry.get_model(self.name, version)
        except (BackbeatError, OSError) as exc:  # a broken promotion must not stop serving
            log.warning(
                "recommendations: cannot load %s v%s (%s); serving content", self.name, version, exc
            )
            return FittedCatalogue(content, catalogue, records, None, content, artists)
        blend = ColdStartBlend(trained, content, CONTENT_WEIGHT).fit_combination(trained.data)
        return FittedCatalogue(blend, catalogue, records, version, content, artists)
