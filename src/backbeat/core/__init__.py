"""Generic building blocks: data helpers, retry, circuit breaker, bounded concurrency.

Nothing here knows about music; everything else in backbeat builds on it. This
package imports nothing of ours but :mod:`backbeat.errors`.
"""

from backbeat.core._batch import BatchResult, ItemFailure, batch_transform
from backbeat.core._breaker import CircuitBreaker, CircuitState
from backbeat.core._concurrency import gather_bounded, map_bounded
from backbeat.core._data import ListStrategy, chunked, deep_merge, flatten, unflatten
from backbeat.core._processor import DataProcessor
from backbeat.core._retry import RetryAttempt, RetryPolicy, is_transient, retry, retry_async

__all__ = [
    "BatchResult",
    "CircuitBreaker",
    "CircuitState",
    "DataProcessor",
    "ItemFailure",
    "ListStrategy",
    "RetryAttempt",
    "RetryPolicy",
    "batch_transform",
    "chunked",
    "deep_merge",
    "flatten",
    "gather_bounded",
    "is_transient",
    "map_bounded",
    "retry",
    "retry_async",
    "unflatten",
]
