"""``GET /v1/recommendations`` and ``GET /v1/artists/{id}/related-artists`` on your catalogue.

The model is content-based (:class:`backbeat.recommend.ContentBased`: analysed
audio features, genres, artists) over every registered track; it is rebuilt when
the catalogue changes (a cheap fingerprint query: track and analysis counts and
latest timestamps, so analyses finished by a separate worker count too). Seeds,
limits, ``min_*``/``max_*``/``target_*`` follow Spotify's semantics through
:func:`backbeat.recommend.recommend_from_seeds`.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from backbeat.audio._models import SPOTIFY_FIELDS
from backbeat.errors import NotFound, ValidationError
from backbeat.server._store import Store, TrackRecord, catalogue_fingerprint, catalogue_rows
from backbeat.server._tracks import Reader
from backbeat.validation import parse_spotify_ref

__all__ = ["CatalogueModel", "router"]

router = APIRouter(prefix="/v1", tags=["recommendations"])


class CatalogueModel:
    """The fitted content model and catalogue, rebuilt when the database says it changed."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._built: tuple[tuple[Any, ...], Any, Any, dict[str, TrackRecord]] | None = None
        self._lock = asyncio.Lock()

    async def get(self) -> tuple[Any, Any, dict[str, TrackRecord]]:
        async with self._lock:
            fingerprint = await catalogue_fingerprint(self.store)
            if self._built is None or self._built[0] != fingerprint:
                rows = await catalogue_rows(self.store)
                model, catalogue = await asyncio.to_thread(_fit, rows)
                self._built = (fingerprint, model, catalogue, {r.id: r for r, _ in rows})
            _, model, catalogue, records = self._built
            return model, catalogue, records


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
            features={k: float(features[k]) for k in SPOTIFY_FIELDS} if features else {},
        )
        for record, features in rows
    ]
    catalogue = Catalogue(tracks)
    model = ContentBased(catalogue).fit(InteractionMatrix.build([], items=catalogue.ids))
    return model, catalogue


def _ids(value: str | None, kind: str) -> list[str]:
    if not value:
        return []
    return [parse_spotify_ref(v.strip(), expected=kind).id for v in value.split(",") if v.strip()]


@router.get("/recommendations", summary="Recommendations from seeds (Spotify's semantics)")
async def recommendations(
    request: Request,
    _: Reader,
    seed_tracks: Annotated[str | None, Query(description="Comma-separated track IDs")] = None,
    seed_artists: Annotated[str | None, Query(description="Comma-separated artist IDs")] = None,
    seed_genres: Annotated[str | None, Query(description="Comma-separated genres")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> dict[str, Any]:
    from backbeat.recommend import TUNABLE, recommend_from_seeds

    tunables: dict[str, float] = {}
    for name, raw in request.query_params.items():
        prefix, _sep, attribute = name.partition("_")
        if prefix in ("min", "max", "target") and attribute in TUNABLE:
            try:
                tunables[name] = float(raw)
            except ValueError:
                raise ValidationError("validation.invalid", details={"field": name}) from None
    model, catalogue, records = await request.app.state.catalogue_model.get()
    result = await asyncio.to_thread(
        recommend_from_seeds,
        model,
        catalogue,
        seed_tracks=_ids(seed_tracks, "track"),
        seed_artists=_ids(seed_artists, "artist"),
        seed_genres=[g.strip() for g in (seed_genres or "").split(",") if g.strip()],
        limit=limit,
        **tunables,
    )
    body = result.to_dict()
    body["tracks"] = [records[t].to_spotify() for t in result.tracks if t in records]
    return body


@router.get("/artists/{artist_id}/related-artists", summary="Up to 20 related artists")
async def related(request: Request, artist_id: str, _: Reader) -> dict[str, Any]:
    from backbeat.recommend import related_artists

    artist = parse_spotify_ref(artist_id, expected="artist").id
    model, catalogue, records = await request.app.state.catalogue_model.get()
    found = await asyncio.to_thread(related_artists, model, catalogue, artist)
    names = {a["id"]: a["name"] for r in records.values() for a in r.artists}
    return {
        "artists": [
            {"id": a, "name": names.get(a, a), "type": "artist", "uri": f"spotify:artist:{a}"}
            for a in found
        ]
    }
