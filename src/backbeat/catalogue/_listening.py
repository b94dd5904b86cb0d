"""Listening events and what is read from them per user: top tracks, recent plays,
history, and the Discover Weekly playlists generated from them.

A *listen* is any event but a skip (``play``, ``like``, ``save``, ``playlist_add``):
top tracks rank by listens, ties by the latest one. Reads by user use the
``(user_id, timestamp)`` index.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from backbeat.catalogue._records import now
from backbeat.storage import consents, listening_events, suppressed_subjects, weekly_playlists

__all__ = ["EventRepository", "WeeklyPlaylistRepository"]

_LISTENS = listening_events.c.kind != "skip"
#: Consent purposes whose withdrawal takes a user's events out of training and serving.
PERSONALIZATION = ("personalization", "recommendations")


class EventRepository:
    """Listening events as posted to ``/v1/events`` (the training data)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def add(
        self, rows: list[dict[str, Any]], *, digest: Callable[[str], str] | None = None
    ) -> int:
        """Store rows of ``user_id, track_id, kind, timestamp (epoch s), ms_played``.

        With ``digest`` (the keyed digest privacy erasure records), rows of erased subjects
        are dropped. The rows are inserted first and the erased list read after, in the same
        transaction: the insert waits for a concurrent erasure to commit, so an erasure
        racing new events leaves none behind. Returns how many rows were kept."""
        if not rows:
            return 0
        async with self.engine.begin() as conn:
            await conn.execute(listening_events.insert(), rows)
            if digest is None:
                return len(rows)
            users = {row["user_id"] for row in rows}
            by_digest = {digest(user): user for user in users}
            found = await conn.execute(
                sa.select(suppressed_subjects.c.digest).where(
                    suppressed_subjects.c.digest.in_(list(by_digest))
                )
            )
            erased = [by_digest[d] for d in found.scalars()]
            if not erased:
                return len(rows)
            await conn.execute(
                listening_events.delete().where(listening_events.c.user_id.in_(erased))
            )
            return sum(1 for row in rows if row["user_id"] not in set(erased))

    async def all(self, *, without_objections: bool = False) -> list[dict[str, Any]]:
        """Every stored event, oldest first; ``without_objections``: leaving out the users who
        withdrew consent for (or objected to) personalization or recommendations."""
        query = sa.select(listening_events).order_by(listening_events.c.timestamp)
        if without_objections:
            c = consents.c
            objected = sa.select(c.subject_id).where(
                c.purpose.in_(PERSONALIZATION), c.status == "withdrawn"
            )
            query = query.where(listening_events.c.user_id.not_in(objected))
        async with self.engine.connect() as conn:
            return [dict(row._mapping) for row in await conn.execute(query)]

    async def objects(self, user: str) -> bool:
        """Whether ``user`` withdrew consent for personalization or recommendations."""
        c = consents.c
        query = sa.select(c.purpose).where(
            c.subject_id == user, c.purpose.in_(PERSONALIZATION), c.status == "withdrawn"
        )
        async with self.engine.connect() as conn:
            return (await conn.execute(query)).first() is not None

    async def interactions(self) -> list[Any]:
        """Every event as a :class:`backbeat.recommend.Interaction`, oldest first, except
        those of users who withdrew consent for personalization (training data)."""
        from backbeat.recommend import EventKind, Interaction

        return [
            Interaction(
                user=row["user_id"],
                item=row["track_id"],
                timestamp=float(row["timestamp"]),
                kind=EventKind(row["kind"]),
                ms_played=row["ms_played"],
            )
            for row in await self.all(without_objections=True)
        ]

    async def top_tracks(self, user: str, *, since: float | None = None) -> list[tuple[str, int]]:
        """``(track_id, listens)`` for ``user`` since ``since`` (epoch s), most first."""
        e = listening_events.c
        listens = sa.func.count().label("listens")
        query = (
            sa.select(e.track_id, listens, sa.func.max(e.timestamp).label("latest"))
            .where(e.user_id == user, _LISTENS)
            .group_by(e.track_id)
            .order_by(listens.desc(), sa.text("latest DESC"), e.track_id)
        )
        if since is not None:
            query = query.where(e.timestamp >= since)
        async with self.engine.connect() as conn:
            return [(row.track_id, int(row.listens)) for row in await conn.execute(query)]

    async def recently_played(
        self, user: str, *, limit: int, before: float | None = None
    ) -> list[tuple[str, float]]:
        """``(track_id, timestamp)`` of ``user``'s latest plays (``before``: exclusive)."""
        e = listening_events.c
        query = (
            sa.select(e.track_id, e.timestamp)
            .where(e.user_id == user, e.kind == "play")
            .order_by(e.timestamp.desc(), e.id.desc())
            .limit(limit)
        )
        if before is not None:
            query = query.where(e.timestamp < before)
        async with self.engine.connect() as conn:
            return [(row.track_id, float(row.timestamp)) for row in await conn.execute(query)]

    async def heard(self, user: str) -> set[str]:
        """Every track ``user`` has an event for (skips included: they were heard)."""
        e = listening_events.c
        async with self.engine.connect() as conn:
            rows = await conn.execute(sa.select(e.track_id).where(e.user_id == user).distinct())
            return {row.track_id for row in rows}


class WeeklyPlaylistRepository:
    """Generated Discover Weekly playlists, kept so a week's playlist never changes."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def get(self, user: str, week: str) -> tuple[list[dict[str, Any]], str] | None:
        """``(picks, model label)`` stored for ``user`` and ``week``."""
        key = (weekly_playlists.c.user_id == user) & (weekly_playlists.c.week == week)
        async with self.engine.connect() as conn:
            row = (await conn.execute(sa.select(weekly_playlists).where(key))).first()
        return (json.loads(row.picks), row.model) if row is not None else None

    async def put_once(
        self, user: str, week: str, picks: list[dict[str, Any]], model: str
    ) -> tuple[list[dict[str, Any]], str]:
        """Store the playlist unless another process stored one first; the stored one."""
        values = {
            "user_id": user,
            "week": week,
            "picks": json.dumps(picks),
            "model": model,
            "created_at": now(),
        }
        try:
            async with self.engine.begin() as conn:
                await conn.execute(weekly_playlists.insert().values(**values))
        except sa.exc.IntegrityError:
            pass  # generated concurrently elsewhere: that one wins, for everybody
        stored = await self.get(user, week)
        return stored if stored is not None else (picks, model)
