"""backbeat: the backend every music-streaming and music-AI product rebuilds, done once.

The names users reach for most are importable from here; each lives in its
subpackage (``backbeat.core``, ...) with the rest of its concern.
"""

from backbeat._version import __version__
from backbeat.core import (
    CircuitBreaker,
    DataProcessor,
    batch_transform,
    deep_merge,
    gather_bounded,
    map_bounded,
    retry,
    retry_async,
)
from backbeat.errors import BackbeatError
from backbeat.settings import Settings
from backbeat.toolkit import Toolkit, create_enterprise_utils_suite

__all__ = [
    "BackbeatError",
    "CircuitBreaker",
    "DataProcessor",
    "Settings",
    "Toolkit",
    "__version__",
    "batch_transform",
    "create_enterprise_utils_suite",
    "deep_merge",
    "gather_bounded",
    "map_bounded",
    "retry",
    "retry_async",
]
