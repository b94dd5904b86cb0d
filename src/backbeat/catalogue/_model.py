"""The catalogue's recommendation model: content-based over every registered track.

:class:`backbeat.recommend.ContentBased` on analysed audio features, genres and
artists, rebuilt when the catalogue changes (a cheap fingerprint query: track and
analysis counts and latest timestamps, so analyses finished by a separate worker
count too). Fitting runs in a worker thread.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from backbeat.catalogue._records import TrackRecord
from backbeat.catalogue._tracks import TrackRepository
from backbeat.errors import NotFound
from backbeat.spotify import AUDIO_FEATURES

__all__ = ["CatalogueModel", "FittedCatalogue"]


@dataclass(frozen=True, slots=True)
class FittedCatalogue:
    """A fitted model, the recommend-side catalogue it ranks, and the tracks' records."""

    model: Any  # backbeat.recommend.ContentBased
    catalogue: Any  # backbeat.recommend.Catalogue
    records: dict[str, TrackRecord]


class CatalogueModel:
    """The fitted content model and catalogue, rebuilt when the database says it changed."""

    def __init__(self, tracks: TrackRepository) -> None:
        self.tracks = tracks
        self._built: tuple[tuple[Any, ...], FittedCatalogue] | None = None
        self._lock = asyncio.Lock()

    async def get(self) -> FittedCatalogue:
        """The current model; raises ``NotFound`` when the catalogue is empty."""
        async with self._lock:
            fingerprint = await self.tracks.fingerprint()
            if self._built is None or self._built[0] != fingerprint:
                rows = await self.tracks.with_features()
                model, catalogue = await asyncio.to_thread(_fit, rows)
                fitted = FittedCatalogue(model, catalogue, {r.id: r for r, _ in rows})
                self._built = (fingerprint, fitted)
            return self._built[1]


def _fit(rows: list[tuple[TrackRecord, dict[str, Any] | None]]) -> tuple[Any, Any]:
    from backbeat.recommend import Catalogue, ContentBased, InteractionMatrix, Track

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
    model = ContentBased(catalogue).fit(InteractionMatrix.build([], items=catalogue.ids))
    return model, catalogue
