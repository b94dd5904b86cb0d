"""Personal endpoints for the end users in your listening events, in Spotify's shapes.

``/v1/users/{user}/top/tracks|artists`` (``time_range``: ``short_term`` = 4 weeks,
``medium_term`` = 6 months, ``long_term`` = a year, as Spotify computes them; a paging
object), ``/recently-played`` (play events, newest first, ``before`` cursor in ms),
``/recommendations`` (the production model's picks for the user, unseen tracks only;
a user the model has not met gets their own tracks' neighbourhoods, one without
history the catalogue's most popular) and ``/discover-weekly`` (see
:func:`backbeat.recommend.discover_weekly`; generated once per ISO week and kept, so
it does not change within the week). ``user`` is the id your app sends in events.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Response

from backbeat.catalogue import Catalogue, FittedCatalogue
from backbeat.server._deps import Reader, ServicesDep
from backbeat.server._paging import paging
from backbeat.server._recommendations import MODEL_HEADER

__all__ = ["router"]

router = APIRouter(prefix="/v1/users", tags=["personal"])
User = Annotated[str, Path(min_length=1, max_length=200, examples=["user-42"])]
TimeRange = Literal["short_term", "medium_term", "long_term"]
_RANGES = {"short_term": 28, "medium_term": 182, "long_term": 365}


@dataclass(frozen=True, slots=True)
class TopPage:
    """The query of both top endpoints: a time range and a page."""

    time_range: TimeRange = "medium_term"
    limit: Annotated[int, Query(ge=1, le=50)] = 20
    offset: Annotated[int, Query(ge=0)] = 0


Top = Annotated[TopPage, Depends()]


async def _top(catalogue: Catalogue, user: str, time_range: str) -> list[tuple[str, int]]:
    since = dt.datetime.now(dt.UTC) - dt.timedelta(days=_RANGES[time_range])
    return await catalogue.events.top_tracks(user, since=since.timestamp())


@router.get("/{user}/top/tracks", summary="A user's most played tracks (Spotify's paging object)")
async def top_tracks(user: User, page: Top, services: ServicesDep, _: Reader) -> dict[str, Any]:
    catalogue = services.catalogue
    limit, offset = page.limit, page.offset
    ranked = [t for t, _ in await _top(catalogue, user, page.time_range)]
    records = await catalogue.tracks.many(ranked[offset : offset + limit])
    items = [records[t].to_spotify() for t in ranked[offset : offset + limit] if t in records]
    return paging(f"/v1/users/{user}/top/tracks", items, len(ranked), limit, offset)


@router.get("/{user}/top/artists", summary="A user's most played artists (by listens)")
async def top_artists(user: User, page: Top, services: ServicesDep, _: Reader) -> dict[str, Any]:
    catalogue = services.catalogue
    limit, offset = page.limit, page.offset
    counts = await _top(catalogue, user, page.time_range)
    records = await catalogue.tracks.many([t for t, _ in counts])
    listens: dict[str, int] = {}
    names: dict[str, str] = {}
    for track, n in counts:
        for artist in records[track].artists if track in records else ():
            listens[artist["id"]] = listens.get(artist["id"], 0) + n
            names[artist["id"]] = artist["name"]
    ranked = sorted(listens, key=lambda a: (-listens[a], a))
    items = [
        {"id": a, "name": names[a], "type": "artist", "uri": f"spotify:artist:{a}"}
        for a in ranked[offset : offset + limit]
    ]
    return paging(f"/v1/users/{user}/top/artists", items, len(ranked), limit, offset)


@router.get("/{user}/recently-played", summary="A user's latest plays, newest first")
async def recently_played(
    user: User,
    services: ServicesDep,
    _: Reader,
    limit: Annotated[int, Query(ge=1, le=50)] = 20,
    before: Annotated[int | None, Query(ge=0, description="Unix time in ms (exclusive)")] = None,
) -> dict[str, Any]:
    catalogue = services.catalogue
    plays = await catalogue.events.recently_played(
        user, limit=limit, before=before / 1000 if before is not None else None
    )
    records = await catalogue.tracks.many([t for t, _ in plays])
    items = [
        {
            "track": records[t].to_spotify(),
            "played_at": dt.datetime.fromtimestamp(at, dt.UTC).isoformat().replace("+00:00", "Z"),
        }
        for t, at in plays
        if t in records
    ]
    oldest = int(plays[-1][1] * 1000) if plays else None
    return {
        "href": f"/v1/users/{user}/recently-played?limit={limit}",
        "items": items,
        "limit": limit,
        "cursors": {"before": str(oldest)} if oldest is not None else None,
        "next": (
            f"/v1/users/{user}/recently-played?limit={limit}&before={oldest}"
            if oldest is not None and len(plays) == limit
            else None
        ),
    }


def _for_user(
    fitted: FittedCatalogue, user: str, played: list[str], heard: set[str], n: int
) -> list[str]:
    from backbeat.recommend import recommend_from_seeds

    model = fitted.model
    if model.data is not None and user in model.data.user_index:
        picks = [t for t, _ in model.recommend(user, n + len(heard))]
    elif played:
        seeds = played[:5]
        picks = recommend_from_seeds(model, fitted.catalogue, seed_tracks=seeds, limit=100).tracks
    else:
        picks = sorted(fitted.records, key=lambda t: -(fitted.records[t].popularity or 0))
    return [t for t in picks if t not in heard and t in fitted.records][:n]


async def _personalization_allowed(catalogue: Any, user: str) -> None:
    """A user who withdrew consent for personalization gets no personalized playlist."""
    if await catalogue.events.objects(user):
        from backbeat.compliance import ConsentRequired

        raise ConsentRequired(details={"purpose": "personalization"})


@router.get("/{user}/recommendations", summary="Tracks for a user from their own history")
async def user_recommendations(
    user: User,
    response: Response,
    services: ServicesDep,
    _: Reader,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> dict[str, Any]:
    catalogue = services.catalogue
    await _personalization_allowed(catalogue, user)
    fitted = await services.model.get()
    response.headers[MODEL_HEADER] = fitted.label
    played = [t for t, _ in await catalogue.events.top_tracks(user)]
    heard = await catalogue.events.heard(user)
    picks = await asyncio.to_thread(_for_user, fitted, user, played, heard, limit)
    return {"tracks": [fitted.records[t].to_spotify() for t in picks], "model": fitted.label}


@router.get(
    "/{user}/discover-weekly",
    summary="A weekly playlist of tracks the user has not played: {tracks, week}",
)
async def user_discover_weekly(
    user: User,
    response: Response,
    services: ServicesDep,
    _: Reader,
    week: Annotated[str | None, Query(description="ISO week, e.g. 2026-W49 (default: now)")] = None,
) -> dict[str, Any]:
    from backbeat.recommend import discover_weekly, iso_week

    catalogue = services.catalogue
    await _personalization_allowed(catalogue, user)
    wanted = week or iso_week()
    stored = await catalogue.playlists.get(user, wanted)
    if stored is None:
        fitted = await services.model.get()
        played = [t for t, _ in await catalogue.events.top_tracks(user)]
        heard = await catalogue.events.heard(user)
        ordered = played + sorted(heard - set(played))  # most played first: the seeds
        picks = await asyncio.to_thread(
            lambda: discover_weekly(
                fitted.model,
                user,
                week=wanted,
                played=ordered,
                artists=fitted.artists,
                content=fitted.content,
            )
        )
        generated: list[dict[str, Any]] = [
            {"track": p.track, "seeds": list(p.seeds), "source": p.source}
            for p in picks
            if p.track in fitted.records
        ]
        stored = await catalogue.playlists.put_once(user, wanted, generated, fitted.label)
    rows, label = stored
    response.headers[MODEL_HEADER] = label
    records = await catalogue.tracks.many([r["track"] for r in rows])
    tracks = [
        {**records[r["track"]].to_spotify(), "seeds": r["seeds"], "source": r["source"]}
        for r in rows
        if r["track"] in records
    ]
    return {"tracks": tracks, "week": wanted, "model": label}
