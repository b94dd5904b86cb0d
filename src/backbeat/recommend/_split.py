"""Time-based evaluation split: train on the past, test on each user's later interactions.

Random splits leak the future into training (a track's later popularity) and
overstate quality; per-user temporal splits are the standard remedy (e.g. Meng,
McCreadie, Macdonald & Ounis, *Exploring Data Splitting Strategies for the
Evaluation of Recommendation Models*, RecSys 2020).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from backbeat.errors import ValidationError
from backbeat.recommend._data import EventKind, Interaction

__all__ = ["TimeSplit", "time_split"]

_POSITIVE = frozenset({EventKind.PLAY, EventKind.LIKE, EventKind.SAVE, EventKind.PLAYLIST_ADD})


@dataclass(frozen=True)
class TimeSplit:
    train: list[Interaction]
    test: dict[str, set[str]]  # user -> items first met in their test period


def time_split(
    events: Iterable[Interaction], *, test_fraction: float = 0.2, min_events: int = 5
) -> TimeSplit:
    """Per user, the latest ``test_fraction`` of events form the test period.

    Test items are the positive items a user meets *only* in the test period
    (re-listens to known tracks are not discoveries). Users with fewer than
    ``min_events`` events stay entirely in training.
    """
    if not 0 < test_fraction < 1:
        raise ValidationError(
            "validation.test_fraction",
            details={"value": test_fraction},
            message="test_fraction must be between 0 and 1, got {value}.",
        )
    by_user: dict[str, list[Interaction]] = defaultdict(list)
    for e in events:
        by_user[e.user].append(e)
    train: list[Interaction] = []
    test: dict[str, set[str]] = {}
    for user, evs in by_user.items():
        evs.sort(key=lambda e: e.timestamp)
        cut = len(evs) - max(1, round(len(evs) * test_fraction))
        if len(evs) < min_events or cut <= 0:
            train.extend(evs)
            continue
        past, future = evs[:cut], evs[cut:]
        train.extend(past)
        known = {e.item for e in past}
        new = {e.item for e in future if e.kind in _POSITIVE and e.item not in known}
        if new:
            test[user] = new
    return TimeSplit(train, test)
