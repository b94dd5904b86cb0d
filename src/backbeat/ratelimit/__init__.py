"""Rate limiting: GCRA and sliding-window log, in memory or on Redis, plus ASGI middleware.

Why our own: the well-kept ``limits`` library offers fixed, moving and
sliding-counter windows, but checks several limits of one key one at a time
(a request refused by the hourly limit has already spent a per-second one)
and has no GCRA. Here every decision, multi-limit included, is one atomic Lua
script on Redis; ``benchmarks/bench_security.py`` measures both side by side.
"""

from backbeat.ratelimit._asgi import Policy, RateLimitMiddleware, api_key_or_ip, client_ip
from backbeat.ratelimit._limiter import RateLimiter
from backbeat.ratelimit._model import Decision, Limit, gcra_decide, window_decide
from backbeat.ratelimit._stores import MemoryStore, RateLimitStore, RedisStore

__all__ = [
    "Decision",
    "Limit",
    "MemoryStore",
    "Policy",
    "RateLimitMiddleware",
    "RateLimitStore",
    "RateLimiter",
    "RedisStore",
    "api_key_or_ip",
    "client_ip",
    "gcra_decide",
    "window_decide",
]
