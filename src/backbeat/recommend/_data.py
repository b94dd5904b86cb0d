"""Listening events and the implicit-feedback confidence matrix built from them.

Implicit feedback (Hu, Koren & Volinsky, *Collaborative Filtering for Implicit
Feedback Datasets*, ICDM 2008) reads behaviour as *confidence* in a preference.
Our weighting, per event, summed per (user, track) and clipped at 0:

- ``play``: 1.0 times the fraction of the track played (``ms_played /
  duration_ms``, capped at 1); a play shorter than 30 s (the threshold at which
  streaming services count a stream) counts 0.25 of that; unknown fractions
  count 1.0;
- ``skip``: -1.0 (a skip cancels a play: the track was not wanted now);
- ``like``/``save``: 4.0; ``playlist_add``: 5.0 (deliberate, lasting signals).

Every (user, track) pair with any event is *seen*, whatever its confidence, so
recommenders can leave out what a user already knows. All weights are a
:class:`Weighting` you can replace.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from backbeat.errors import ValidationError

__all__ = ["EventKind", "Interaction", "InteractionMatrix", "Weighting"]


class EventKind(enum.StrEnum):
    PLAY = "play"
    SKIP = "skip"
    LIKE = "like"
    SAVE = "save"
    PLAYLIST_ADD = "playlist_add"


@dataclass(frozen=True, slots=True)
class Interaction:
    """One listening event; ``timestamp`` in epoch seconds."""

    user: str
    item: str
    timestamp: float
    kind: EventKind = EventKind.PLAY
    ms_played: int | None = None
    duration_ms: int | None = None


@dataclass(frozen=True, slots=True)
class Weighting:
    """Confidence per event kind (see the module docstring)."""

    play: float = 1.0
    short_play_factor: float = 0.25
    short_play_ms: int = 30_000
    skip: float = -1.0
    like: float = 4.0
    save: float = 4.0
    playlist_add: float = 5.0

    def confidence(self, event: Interaction) -> float:
        kind = event.kind
        if kind is EventKind.PLAY:
            weight = self.play
            if event.ms_played is not None and event.duration_ms:
                weight *= min(1.0, max(0.0, event.ms_played / event.duration_ms))
            if event.ms_played is not None and event.ms_played < self.short_play_ms:
                weight *= self.short_play_factor
            return weight
        return {
            EventKind.SKIP: self.skip,
            EventKind.LIKE: self.like,
            EventKind.SAVE: self.save,
            EventKind.PLAYLIST_ADD: self.playlist_add,
        }[kind]


@dataclass(frozen=True)
class InteractionMatrix:
    """Users x items: ``confidence`` (CSR, float32, >= 0) and ``seen`` (CSR, bool)."""

    users: tuple[str, ...]
    items: tuple[str, ...]
    confidence: sparse.csr_matrix
    seen: sparse.csr_matrix

    @classmethod
    def build(
        cls,
        events: Iterable[Interaction],
        *,
        weighting: Weighting | None = None,
        items: Sequence[str] = (),
    ) -> InteractionMatrix:
        """Aggregate events; ``items`` adds catalogue tracks nobody played yet (cold items)."""
        w = weighting or Weighting()
        user_ix: dict[str, int] = {}
        item_ix: dict[str, int] = {item: i for i, item in enumerate(dict.fromkeys(items))}
        rows: list[int] = []
        cols: list[int] = []
        vals: list[float] = []
        for e in events:
            if not isinstance(e, Interaction):
                raise ValidationError(
                    "validation.interaction",
                    details={"type": type(e).__name__},
                    message="Expected an Interaction, got {type}.",
                )
            rows.append(user_ix.setdefault(e.user, len(user_ix)))
            cols.append(item_ix.setdefault(e.item, len(item_ix)))
            vals.append(w.confidence(e))
        shape = (len(user_ix), len(item_ix))
        summed = sparse.coo_matrix(
            (np.asarray(vals, dtype=np.float32), (rows, cols)), shape=shape
        ).tocsr()  # duplicates are summed
        seen = summed.copy()
        seen.data = np.ones_like(seen.data, dtype=bool)
        summed.data = np.maximum(summed.data, 0.0)
        summed.eliminate_zeros()
        return cls(tuple(user_ix), tuple(item_ix), summed.astype(np.float32), seen.astype(bool))

    @functools.cached_property
    def user_index(self) -> dict[str, int]:
        return {u: i for i, u in enumerate(self.users)}

    @functools.cached_property
    def item_index(self) -> dict[str, int]:
        return {t: i for i, t in enumerate(self.items)}

    def popularity(self) -> np.ndarray:
        """Per item: the number of users with positive confidence in it."""
        return np.asarray((self.confidence > 0).sum(axis=0)).ravel()
