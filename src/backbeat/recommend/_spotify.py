"""Spotify's ``/recommendations`` and ``/artists/{id}/related-artists``, on your catalogue.

Semantics follow the Web API reference ("Get Recommendations"): 1 to 5 seeds in
total across ``seed_tracks``, ``seed_artists`` and ``seed_genres``; ``limit``
1..100; for each tunable attribute, ``min_*``/``max_*`` are hard filters and
``target_*`` ranks by closeness. The response carries the ``seeds`` block
(``initialPoolSize``, ``afterFilteringSize``, ``afterRelinkingSize``, ``id``,
``type``, ``href``) per seed. A seed that is not in the catalogue is reported
there with pool sizes of 0 instead of failing the request.

How the pool is built: every seed contributes its neighbourhood: a track's
nearest tracks (from the model's ``similar_items``, blended with content
similarity when the model has one), an artist's tracks and its tracks'
neighbours, a genre's tracks. Pool candidates are scored by how many seeds
point to them and how strongly; filters are applied; targets (if any) order
the survivors by normalised distance, seed score breaking ties.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from backbeat.errors import NotFound, ValidationError
from backbeat.recommend._baselines import _Fitted
from backbeat.recommend._catalogue import Catalogue
from backbeat.spotify import TUNABLE

__all__ = ["TUNABLE", "Recommendations", "recommend_from_seeds", "related_artists"]

_SCALE = {
    "duration_ms": 600_000.0,
    "key": 11.0,
    "loudness": 60.0,
    "popularity": 100.0,
    "tempo": 250.0,
    "time_signature": 7.0,
}
POOL_PER_SEED = 250


@dataclass(frozen=True)
class Recommendations:
    """``tracks``: ids, best first; ``seeds``: Spotify's seed objects."""

    tracks: list[str]
    seeds: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"tracks": [{"id": t} for t in self.tracks], "seeds": self.seeds}


def _parse_tunables(
    tunables: Mapping[str, float],
) -> tuple[dict[str, tuple[float, float]], dict[str, float]]:
    bounds: dict[str, list[float]] = {}
    targets: dict[str, float] = {}
    for key, value in tunables.items():
        prefix, _, attr = key.partition("_")
        if prefix not in ("min", "max", "target") or attr not in TUNABLE:
            raise ValidationError(
                "validation.recommend_parameter",
                details={"name": key[:40]},
                message="Unknown recommendation parameter {name!r}.",
            )
        if not isinstance(value, int | float) or isinstance(value, bool) or not np.isfinite(value):
            raise ValidationError(
                "validation.recommend_parameter_value",
                details={"name": key},
                message="{name} must be a finite number.",
            )
        if prefix == "target":
            targets[attr] = float(value)
        else:
            low, high = bounds.setdefault(attr, [-np.inf, np.inf])
            bounds[attr] = [float(value), high] if prefix == "min" else [low, float(value)]
    for attr, (low, high) in bounds.items():
        if low > high:
            raise ValidationError(
                "validation.recommend_range",
                details={"attribute": attr},
                message="min_{attribute} is greater than max_{attribute}.",
            )
    return {a: (lo, hi) for a, (lo, hi) in bounds.items()}, targets


def recommend_from_seeds(
    model: _Fitted,
    catalogue: Catalogue,
    *,
    seed_tracks: Sequence[str] = (),
    seed_artists: Sequence[str] = (),
    seed_genres: Sequence[str] = (),
    limit: int = 20,
    **tunables: float,
) -> Recommendations:
    """Spotify-style recommendations from seeds; see the module docstring."""
    n_seeds = len(seed_tracks) + len(seed_artists) + len(seed_genres)
    if not 1 <= n_seeds <= 5:
        raise ValidationError(
            "validation.recommend_seeds",
            details={"count": n_seeds},
            message="Give 1 to 5 seeds in total (tracks, artists and genres); got {count}.",
        )
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= 100:
        raise ValidationError(
            "validation.recommend_limit",
            details={"limit": repr(limit)},
            message="limit must be between 1 and 100, got {limit}.",
        )
    bounds, targets = _parse_tunables(tunables)
    score: dict[str, float] = {}
    seeds: list[dict[str, Any]] = []
    seed_ids = set(seed_tracks)
    for kind, values in (("TRACK", seed_tracks), ("ARTIST", seed_artists), ("GENRE", seed_genres)):
        for value in values:
            pool = _neighbourhood(model, catalogue, kind, value)
            for rank, track in enumerate(pool):
                if track not in seed_ids and track in catalogue:
                    score[track] = score.get(track, 0.0) + 1.0 / (1 + rank / 25)
            kept = [t for t in pool if t in catalogue and _passes(catalogue, t, bounds)]
            seeds.append(
                {
                    "id": value,
                    "type": kind,
                    "href": None,
                    "initialPoolSize": len(pool),
                    "afterFilteringSize": len(kept),
                    "afterRelinkingSize": len(kept),
                }
            )
    candidates = [t for t in score if _passes(catalogue, t, bounds)]
    if targets:

        def distance(t: str) -> float:
            total = 0.0
            for attr, goal in targets.items():
                v = catalogue.attribute(t, attr)
                total += 1.0 if v is None else abs(float(v) - goal) / _SCALE.get(attr, 1.0)
            return total

        candidates.sort(key=lambda t: (distance(t), -score[t]))
    else:
        candidates.sort(key=lambda t: -score[t])
    return Recommendations(candidates[:limit], seeds)


def _passes(catalogue: Catalogue, track: str, bounds: Mapping[str, tuple[float, float]]) -> bool:
    for attr, (low, high) in bounds.items():
        v = catalogue.attribute(track, attr)
        if v is None or not low <= float(v) <= high:
            return False
    return True


def _neighbourhood(model: _Fitted, catalogue: Catalogue, kind: str, value: str) -> list[str]:
    if kind == "TRACK":
        if value not in catalogue and value not in model.item_list:
            return []
        try:
            return [t for t, _ in model.similar_items(value, POOL_PER_SEED)]
        except NotFound:
            return []
    if kind == "ARTIST":
        own = catalogue.by_artist.get(value, [])
        pool = list(own)
        per_track = max(5, POOL_PER_SEED // max(1, len(own)))
        for track in own[:50]:
            try:
                pool.extend(t for t, _ in model.similar_items(track, per_track))
            except NotFound:
                continue
        return list(dict.fromkeys(pool))[: POOL_PER_SEED * 2]
    members = catalogue.by_genre.get(value, [])
    return sorted(members, key=lambda t: -catalogue[t].popularity)[: POOL_PER_SEED * 2]


def related_artists(model: _Fitted, catalogue: Catalogue, artist: str, n: int = 20) -> list[str]:
    """Up to ``n`` (at most 20) artists whose tracks neighbour ``artist``'s tracks."""
    own = catalogue.by_artist.get(artist)
    if not own:
        raise NotFound("not_found.artist", details={"artist": artist[:80]})
    votes: dict[str, float] = {}
    for track in own[:50]:
        try:
            similar = model.similar_items(track, 50)
        except NotFound:
            continue
        for rank, (other, _) in enumerate(similar):
            if other not in catalogue:
                continue
            for a in catalogue[other].artists:
                if a != artist:
                    votes[a] = votes.get(a, 0.0) + 1.0 / (1 + rank)
    return [a for a, _ in sorted(votes.items(), key=lambda kv: -kv[1])[: min(n, 20)]]
