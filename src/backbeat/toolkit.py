"""``Toolkit``: every configured service, built lazily from :class:`Settings`.

The seed's ``create_enterprise_utils_suite(config)`` returned a dict of
managers; this is the typed, closable version::

    async with Toolkit.from_env() as tk:
        report = await tk.health()

Services are created on first use and closed, in reverse order, when the
``async with`` block ends (or on :meth:`aclose`). Attributes grow as the
subpackages land (cache, keyring, audit, ...); each is documented where it
is defined.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from backbeat._health import BackendHealth, HealthReport, probe, redact_url
from backbeat._version import __version__
from backbeat.errors import ConfigurationError
from backbeat.settings import Settings

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from sqlalchemy.ext.asyncio import AsyncEngine

    from backbeat.cache import MemoryCache, TieredCache
    from backbeat.ratelimit import Limit, RateLimiter
    from backbeat.security import Keyring

__all__ = ["Toolkit"]


def _missing_extra(extra: str, package: str) -> ConfigurationError:
    return ConfigurationError(
        "config.missing_extra",
        details={"extra": extra, "package": package},
        message="This feature needs {package}: pip install 'backbeat[{extra}]'.",
    )


class Toolkit:
    """Builds backbeat's services from one :class:`Settings`; an async context manager."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings if settings is not None else Settings.from_env()
        self._redis: Redis | None = None
        self._engine: AsyncEngine | None = None
        self._cache: MemoryCache | TieredCache | None = None
        self._keyring: Keyring | None = None
        self._closed = False

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, /, **overrides: Any) -> Toolkit:
        """A toolkit configured from the environment (see :class:`Settings`)."""
        return cls(Settings.from_env(environ, **overrides))

    async def __aenter__(self) -> Toolkit:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close every service that was opened; safe to call twice."""
        if self._cache is not None:
            cache, self._cache = self._cache, None
            await cache.close()
        if self._redis is not None:
            redis, self._redis = self._redis, None
            await redis.aclose()
        if self._engine is not None:
            engine, self._engine = self._engine, None
            await engine.dispose()
        self._closed = True

    # -- services (lazy) --------------------------------------------------------

    @property
    def cache(self) -> MemoryCache | TieredCache:
        """The cache: tiered (L1 memory + L2 Redis) when ``REDIS_URL`` is set, else memory.

        Its default TTL is ``CACHE_TTL_DEFAULT``. Built on first access.
        """
        if self._cache is None:
            from backbeat.cache import MemoryCache, RedisCache, TieredCache

            ttl = self.settings.cache_ttl_default
            if self.settings.redis_url is None:
                self._cache = MemoryCache(default_ttl=ttl)
            else:
                l2 = RedisCache(self.redis_client(), default_ttl=ttl)
                self._cache = TieredCache(MemoryCache(default_ttl=ttl), l2)
        return self._cache

    @property
    def keyring(self) -> Keyring:
        """The :class:`~backbeat.security.Keyring` from ``ENCRYPTION_KEY`` or its key file.

        Raises ``ConfigurationError`` (``config.no_encryption_key``) when neither
        is set: encrypting with a key nobody saved would lose data.
        """
        if self._keyring is None:
            try:
                from backbeat.security import Keyring
            except ImportError as e:
                raise _missing_extra("security", "cryptography") from e
            if self.settings.encryption_key is not None:
                self._keyring = Keyring.from_string(self.settings.encryption_key.get_secret_value())
            elif self.settings.encryption_key_file is not None:
                self._keyring = Keyring.from_file(self.settings.encryption_key_file)
            else:
                raise ConfigurationError(
                    "config.no_encryption_key",
                    message=(
                        "No encryption key: set ENCRYPTION_KEY or ENCRYPTION_KEY_FILE "
                        "(create one with `backbeat keys generate`)."
                    ),
                )
        return self._keyring

    def rate_limiter(
        self, *limits: Limit | str, algorithm: str = "gcra", fail_open: bool = False
    ) -> RateLimiter:
        """A :class:`~backbeat.ratelimit.RateLimiter` on Redis when ``REDIS_URL`` is set
        (shared by every process), in this process's memory otherwise."""
        from backbeat.ratelimit import MemoryStore, RateLimiter, RedisStore

        store = (
            MemoryStore() if self.settings.redis_url is None else RedisStore(self.redis_client())
        )
        return RateLimiter(
            *limits,
            store=store,
            algorithm=algorithm,  # type: ignore[arg-type]
            fail_open=fail_open,
        )

    # -- backends (lazy) --------------------------------------------------------

    def redis_client(self) -> Redis:
        """The shared redis-py asyncio client for ``REDIS_URL`` (needs the redis extra)."""
        if self.settings.redis_url is None:
            raise ConfigurationError(
                "config.redis_not_configured",
                message="Redis is not configured: set REDIS_URL.",
            )
        if self._redis is None:
            try:
                from redis.asyncio import BlockingConnectionPool, Redis
            except ImportError as e:
                raise _missing_extra("redis", "redis") from e
            # Bursts wait (up to 5 s) for one of 100 connections instead of failing.
            pool = BlockingConnectionPool.from_url(
                self.settings.redis_url,
                max_connections=100,
                timeout=5.0,
                socket_connect_timeout=2.0,
                socket_timeout=5.0,
            )
            self._redis = Redis.from_pool(pool)  # the client owns (and closes) the pool
        return self._redis

    def database_engine(self) -> AsyncEngine:
        """The SQLAlchemy async engine for ``DATABASE_URL`` (SQLite under ./var by default)."""
        if self._engine is None:
            try:
                from sqlalchemy.engine import make_url
                from sqlalchemy.ext.asyncio import create_async_engine
            except ImportError as e:
                raise _missing_extra("server", "sqlalchemy") from e
            settings = self.settings
            connect_args: dict[str, Any] = {}
            if settings.database_backend == "sqlite":
                # SQLite creates the file on first use, but not its folder.
                path = make_url(settings.async_database_url).database
                if path and path != ":memory:":
                    Path(path).parent.mkdir(parents=True, exist_ok=True)
            else:
                connect_args["timeout"] = 5.0
            try:
                self._engine = create_async_engine(
                    settings.async_database_url, connect_args=connect_args, pool_pre_ping=True
                )
            except ImportError as e:
                extra = "server" if settings.database_backend == "sqlite" else "postgres"
                raise _missing_extra(extra, e.name or "a database driver") from e
        return self._engine

    # -- health --------------------------------------------------------------------

    async def health(self) -> HealthReport:
        """Probe every configured backend once (``PING`` / ``SELECT 1``)."""
        backends: list[BackendHealth] = [await self._probe_database()]
        if self.settings.redis_url is not None:
            backends.append(await self._probe_redis(self.settings.redis_url))
        state = getattr(self._cache, "state", None)
        if state is not None:  # a tiered cache in use: is it serving from both levels?
            backends.append(
                BackendHealth(
                    "cache",
                    "tiered",
                    "ok" if state == "healthy" else "down",
                    "L1 + Redis L2",
                    error=None if state == "healthy" else "degraded: serving from L1 only",
                )
            )
        return HealthReport(version=__version__, backends=tuple(backends))

    async def _probe_database(self) -> BackendHealth:
        url = self.settings.database_url
        kind = self.settings.database_backend

        async def check() -> None:
            from sqlalchemy import text

            async with self.database_engine().connect() as conn:
                await conn.execute(text("SELECT 1"))

        return await probe("database", kind, redact_url(url), check, secret=urlsplit(url).password)

    async def _probe_redis(self, url: str) -> BackendHealth:
        async def check() -> None:
            await self.redis_client().ping()

        return await probe("redis", "redis", redact_url(url), check, secret=urlsplit(url).password)
