"""``DataProcessor``: the seed's name for the data helpers, kept for its users.

New code should import the functions directly from :mod:`backbeat.core`; this
namespace exists so that ``DataProcessor.deep_merge(base, user)`` and
``await DataProcessor.batch_transform(items, fn, batch_size=100)`` keep working.
"""

from __future__ import annotations

from backbeat.core._batch import batch_transform
from backbeat.core._data import chunked, deep_merge, flatten, unflatten

__all__ = ["DataProcessor"]


class DataProcessor:
    """Namespace of data helpers under their seed names (no state, no instances needed)."""

    deep_merge = staticmethod(deep_merge)
    flatten = staticmethod(flatten)
    unflatten = staticmethod(unflatten)
    chunked = staticmethod(chunked)
    batch_transform = staticmethod(batch_transform)
