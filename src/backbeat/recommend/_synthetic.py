"""Synthetic listening logs with planted taste structure, reproducible from a seed.

The structure is known, so tests can check that a recommender finds it:

- items belong to ``n_clusters`` taste clusters ("genres"); within a cluster,
  popularity follows a Zipf law (exponent ``zipf``): a long tail;
- each user has a home cluster; a fraction ``affinity`` of their picks come from
  it (by its popularity), the rest from the whole catalogue's popularity;
- listening happens in sessions spread over ``days``; an off-taste pick is
  skipped early with probability ``skip_off_taste`` (a short ``play`` then a
  ``skip``), an on-taste one with probability ``skip_on_taste``; on-taste
  picks are liked with probability ``like_rate``.

The catalogue mirrors the clusters: each cluster is a genre (``genre-<c>``),
with ``artists_per_cluster`` artists, and audio features drawn around the
cluster's own centre (tempo, energy, danceability, valence, acousticness...), so
content-based models can find the taste structure from metadata alone.

Everything is drawn from ``numpy.random.default_rng(seed)``: the same seed gives
the same log on every machine.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from backbeat.errors import ValidationError
from backbeat.recommend._catalogue import Catalogue, Track
from backbeat.recommend._data import EventKind, Interaction
from backbeat.spotify import DESCRIPTORS

__all__ = ["SyntheticLog", "synthetic_log"]


@dataclass(frozen=True)
class SyntheticLog:
    events: list[Interaction]
    item_cluster: dict[str, int]
    user_cluster: dict[str, int]
    durations_ms: dict[str, int]
    catalogue: Catalogue


def synthetic_log(
    *,
    n_users: int = 1000,
    n_items: int = 2000,
    n_clusters: int = 10,
    events_per_user: int = 40,
    affinity: float = 0.85,
    zipf: float = 1.0,
    skip_off_taste: float = 0.6,
    skip_on_taste: float = 0.1,
    like_rate: float = 0.05,
    days: float = 90.0,
    artists_per_cluster: int = 20,
    seed: int = 0,
) -> SyntheticLog:
    """A log of about ``n_users * events_per_user`` picks (skips add events)."""
    if min(n_users, n_items, n_clusters, events_per_user) < 1 or n_clusters > n_items:
        raise ValidationError(
            "validation.synthetic",
            message="Sizes must be positive and n_clusters at most n_items.",
        )
    rng = np.random.default_rng(seed)
    item_cluster = rng.permutation(np.arange(n_items) % n_clusters)
    # Zipf popularity inside each cluster, and globally (clusters of equal mass).
    weights = np.empty(n_items)
    members = [np.flatnonzero(item_cluster == c) for c in range(n_clusters)]
    for idx in members:
        ranks = rng.permutation(len(idx)) + 1
        weights[idx] = 1.0 / ranks**zipf
    in_cluster_p = [weights[idx] / weights[idx].sum() for idx in members]
    global_p = weights / weights.sum()
    durations = rng.integers(120_000, 360_000, size=n_items)
    user_cluster = rng.integers(0, n_clusters, size=n_users)
    start = 1_700_000_000.0
    events: list[Interaction] = []
    for u in range(n_users):
        home = int(user_cluster[u])
        on_taste = rng.random(events_per_user) < affinity
        picks = np.where(
            on_taste,
            rng.choice(members[home], size=events_per_user, p=in_cluster_p[home]),
            rng.choice(n_items, size=events_per_user, p=global_p),
        )
        times = np.sort(start + rng.random(events_per_user) * days * 86400)
        user = f"u{u}"
        for item_i, t in zip(picks.tolist(), times.tolist(), strict=True):
            item = f"t{item_i}"
            duration = int(durations[item_i])
            liked_cluster = int(item_cluster[item_i]) == home
            skip_p = skip_on_taste if liked_cluster else skip_off_taste
            if rng.random() < skip_p:
                played = int(rng.integers(3_000, 25_000))
                events.append(Interaction(user, item, t, EventKind.PLAY, played, duration))
                events.append(Interaction(user, item, t + played / 1000, EventKind.SKIP))
                continue
            played = int(duration * rng.uniform(0.7, 1.0))
            events.append(Interaction(user, item, t, EventKind.PLAY, played, duration))
            if liked_cluster and rng.random() < like_rate:
                events.append(Interaction(user, item, t + 1, EventKind.LIKE))
    catalogue = _catalogue(rng, item_cluster, weights, durations, n_clusters, artists_per_cluster)
    return SyntheticLog(
        events,
        {f"t{i}": int(c) for i, c in enumerate(item_cluster)},
        {f"u{u}": int(c) for u, c in enumerate(user_cluster)},
        {f"t{i}": int(d) for i, d in enumerate(durations)},
        catalogue,
    )


def _catalogue(
    rng: np.random.Generator,
    item_cluster: np.ndarray,
    weights: np.ndarray,
    durations: np.ndarray,
    n_clusters: int,
    artists_per_cluster: int,
) -> Catalogue:
    unit = tuple(sorted(DESCRIPTORS))
    centres = rng.uniform(0.15, 0.85, size=(n_clusters, len(unit)))
    tempo_centres = rng.uniform(70, 170, size=n_clusters)
    popularity = 100 * (weights / weights.max()) ** 0.25
    tracks = []
    for i, c in enumerate(item_cluster.tolist()):
        values = np.clip(centres[c] + rng.normal(0, 0.07, size=len(unit)), 0, 1)
        features: dict[str, float] = {
            name: round(float(v), 4) for name, v in zip(unit, values, strict=True)
        }
        features["tempo"] = round(float(np.clip(tempo_centres[c] + rng.normal(0, 6), 40, 220)), 2)
        features["loudness"] = round(float(np.clip(rng.normal(-8, 2.5), -40, 0)), 2)
        features["key"] = int(rng.integers(0, 12))
        features["mode"] = int(rng.integers(0, 2))
        features["time_signature"] = 4
        features["duration_ms"] = int(durations[i])
        artist = f"a{c}-{int(rng.integers(0, artists_per_cluster))}"
        tracks.append(
            Track(f"t{i}", (artist,), (f"genre-{c}",), round(float(popularity[i]), 2), features)
        )
    return Catalogue(tracks)
