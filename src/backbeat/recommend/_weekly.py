"""Discover Weekly: a personal playlist of tracks a listener has not played, once a week.

:func:`discover_weekly` mixes two candidate lists: the collaborative model's picks for
the user (two of every three places) and, for the rest, content neighbours of the
tracks the user plays most (``content``; cold tracks get their chance there). Each pick
carries the seeds that explain it: the user's own tracks whose neighbourhoods hold it
(for collaborative picks with none, the user's three most played tracks, since "people
who play what you play" is the reason). The order is varied by a Gumbel-top-k draw over
the ranked pool, seeded by the user and the ISO week: the same playlist all week, a new
one the next, higher-ranked candidates still likelier. Played tracks are never
included and each artist appears at most ``per_artist`` times.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from backbeat.errors import NotFound, ValidationError
from backbeat.recommend._baselines import _Fitted

__all__ = ["WeeklyPick", "discover_weekly", "iso_week"]

_NEIGHBOURS = 100
_SEEDS = 10


@dataclass(frozen=True, slots=True)
class WeeklyPick:
    track: str
    seeds: tuple[str, ...]  # the user's tracks that explain it
    source: str  # "collaborative" or "content"


def iso_week(when: dt.date | dt.datetime | None = None) -> str:
    """``YYYY-Www`` (ISO 8601 week) of ``when`` (default: today, UTC)."""
    day = when or dt.datetime.now(dt.UTC)
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def _check_week(week: str) -> None:
    try:
        dt.date.fromisocalendar(int(week[:4]), int(week[6:]), 1)
        ok = len(week) == 8 and week[4:6] == "-W"
    except ValueError:
        ok = False
    if not ok:
        raise ValidationError(
            "validation.invalid",
            details={"field": "week", "problem": "expected an ISO week like 2026-W49"},
            message="{field} is invalid: {problem}.",
        )


def _similar(model: _Fitted | None, seed: str) -> list[str]:
    if model is None:
        return []
    try:
        return [t for t, _ in model.similar_items(seed, _NEIGHBOURS)]
    except NotFound:
        return []


def discover_weekly(
    model: _Fitted,
    user: str,
    *,
    week: str,
    played: Sequence[str],
    artists: Mapping[str, Sequence[str]] | None = None,
    content: _Fitted | None = None,
    size: int = 30,
    per_artist: int = 2,
) -> list[WeeklyPick]:
    """The user's playlist for ``week``.

    ``played``: the user's tracks, most played first (never included; the first ten are
    the seeds); ``artists``: each track's artist ids (for the ``per_artist`` cap; tracks
    not in it count as artist-less); ``model``: collaborative (or any) recommender that
    may know the user; ``content``: optional content model for the content share.
    """
    _check_week(week)
    if not 1 <= size <= 100 or per_artist < 1:
        raise ValidationError(
            "validation.invalid",
            details={"field": "size", "problem": "between 1 and 100, per_artist >= 1"},
            message="{field} is invalid: {problem}.",
        )
    heard = set(played)
    seeds = list(dict.fromkeys(played))[:_SEEDS]
    explains: dict[str, list[str]] = {}
    for seed in seeds:
        for track in _similar(model, seed):
            explains.setdefault(track, []).append(seed)
    known = model.data is not None and user in model.data.user_index
    if known:
        collaborative = [t for t, _ in model.recommend(user, size * 4)]
    else:  # the model has not met this user: their own tracks' neighbourhoods, then popular
        collaborative = list(explains) or [t for t, _ in model.recommend(user, size * 4)]
    by_content: dict[str, list[str]] = {}
    for seed in seeds:
        for track in _similar(content, seed)[: _NEIGHBOURS // 2]:
            by_content.setdefault(track, []).append(seed)
    pool: list[WeeklyPick] = []
    chosen: set[str] = set()
    queues = {"collaborative": collaborative, "content": list(by_content)}
    cursor = {"collaborative": 0, "content": 0}
    while len(pool) < size * 3:
        wants = "content" if len(pool) % 3 == 2 else "collaborative"
        other = "collaborative" if wants == "content" else "content"
        source = wants if cursor[wants] < len(queues[wants]) else other
        if cursor[source] >= len(queues[source]):
            break  # both lists spent
        track = queues[source][cursor[source]]
        cursor[source] += 1
        if track in heard or track in chosen:
            continue
        chosen.add(track)
        why = by_content[track] if source == "content" else (explains.get(track) or seeds[:3])
        pool.append(WeeklyPick(track, tuple(dict.fromkeys(why)), source))
    # Gumbel-top-k: log-weight 1/(rank+1) plus Gumbel noise seeded by user and week.
    digest = hashlib.sha256(f"{user}|{week}".encode()).digest()
    noise = np.random.default_rng(int.from_bytes(digest[:8], "big")).gumbel(size=len(pool))
    keys = [-math.log(rank + 1) + float(g) for rank, g in enumerate(noise)]
    keyed = sorted(range(len(pool)), key=lambda r: -keys[r])
    picks: list[WeeklyPick] = []
    per: dict[str, int] = {}
    for r in keyed:
        pick = pool[r]
        names = tuple((artists or {}).get(pick.track, ()))
        if any(per.get(a, 0) >= per_artist for a in names):
            continue
        for a in names:
            per[a] = per.get(a, 0) + 1
        picks.append(pick)
        if len(picks) == size:
            break
    return picks
