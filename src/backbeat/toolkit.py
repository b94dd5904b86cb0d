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

import logging
from collections.abc import Mapping
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

    from backbeat.analytics import BusinessAnalytics
    from backbeat.audio import AudioProcessor
    from backbeat.audit import AuditTrail
    from backbeat.cache import MemoryCache, TieredCache
    from backbeat.compliance import GdprCompliance
    from backbeat.monitoring import SystemMonitor
    from backbeat.ratelimit import Limit, RateLimiter
    from backbeat.recommend import ModelManager, ModelRegistry, RecommendationEngine
    from backbeat.security import KeyManager, Keyring
    from backbeat.streaming import StreamProcessor

__all__ = ["SEED_KEYS", "Toolkit", "create_enterprise_utils_suite"]

#: The seed README's suite keys -> the Toolkit attribute that serves each. Later
#: concerns (performance_monitor, compliance_monitor, stream_processor, qos_manager,
#: business_analytics) join as they land.
SEED_KEYS: dict[str, str] = {
    "audio_processor": "audio_processor",
    "model_manager": "model_manager",
    "recommendation_engine": "recommendation_engine",
    "cache_manager": "cache",
    "audit_logger": "audit",
    "performance_monitor": "monitor",
    "qos_manager": "streaming",
    "business_analytics": "analytics",
    "compliance_monitor": "compliance",
    "stream_processor": "streaming",
}
#: The seed's feature switches: accepted and without effect, since every service is
#: built on first use (nothing to switch on) and configured by Settings.
SEED_FLAGS = frozenset({"ml_enabled", "streaming_optimized", "compliance_gdpr"})

log = logging.getLogger(__name__)


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
        self._key_manager: KeyManager | None = None
        self._audit: AuditTrail | None = None
        self._models: ModelManager | None = None
        self._engine_rec: RecommendationEngine | None = None
        self._monitor: SystemMonitor | None = None
        self._analytics: BusinessAnalytics | None = None
        self._compliance: GdprCompliance | None = None
        self._streaming: StreamProcessor | None = None
        self._closed = False

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, /, **overrides: Any) -> Toolkit:
        """A toolkit configured from the environment (see :class:`Settings`)."""
        return cls(Settings.from_env(environ, **overrides))

    async def __aenter__(self) -> Toolkit:
        """Open the toolkit; with ``ENABLE_AUDIT_LOGS`` (the default) its audit trail
        becomes ``@audited``'s default at once, bound to this event loop, so a
        decorated call records whether or not the code touched :attr:`audit` first."""
        if self.settings.enable_audit_logs:
            try:
                await self.audit.start()
            except ImportError as e:  # a core-only install: say so instead of dropping events
                log.warning(
                    "audit: ENABLE_AUDIT_LOGS is set but %s is missing "
                    "(pip install 'backbeat[security,server]'); @audited records nothing",
                    e.name,
                )
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
        if self._monitor is not None:
            monitor, self._monitor = self._monitor, None
            await monitor.aclose()
        if self._audit is not None:
            audit, self._audit = self._audit, None
            await audit.aclose()
            from backbeat.audit import get_default_trail, set_default_trail

            if get_default_trail() is audit:
                set_default_trail(None)
        if self._key_manager is not None:
            manager, self._key_manager = self._key_manager, None
            await manager.aclose()
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

    @property
    def audit(self) -> AuditTrail:
        """The audit trail on ``DATABASE_URL``; also made ``@audited``'s default.

        Events are sealed with keys derived from the keyring; with no
        ``ENCRYPTION_KEY``/``ENCRYPTION_KEY_FILE`` a key file is created at
        ``<BACKBEAT_DATA_DIR>/audit.keys`` (back it up: it is what proves the log).
        ``ENABLE_AUDIT_LOGS=false`` gives a disabled trail. The schema must exist
        (:meth:`migrate`, ``backbeat db upgrade``).
        """
        if self._audit is None:
            from backbeat.audit import AuditStore, AuditTrail, Sealer, set_default_trail

            store = AuditStore(self.database_engine(), Sealer(self.audit_keyring()))
            self._audit = AuditTrail(store, enabled=self.settings.enable_audit_logs)
            self._audit.subjects = self._subject_ref
            set_default_trail(self._audit)
        return self._audit

    @property
    def streaming(self) -> StreamProcessor:
        """The seed's ``stream_processor`` and ``qos_manager``: server-side adaptive sessions
        over the Opus renditions of ``BACKBEAT_STREAM_LADDER`` (the ``audio`` extra's PyAV),
        and ``track_metrics`` into the monitor's QoS series."""
        if self._streaming is None:
            from backbeat.streaming import StreamProcessor

            ladder = "+".join(
                part for part in self.settings.stream_ladder.split("+") if part.startswith("opus")
            )

            async def qos(**sample: Any) -> None:  # the monitor is built on first use
                await self.monitor.track_metrics(**sample)

            self._streaming = StreamProcessor(ladder or "opus:32,64,96,160", qos=qos)
        return self._streaming

    async def _subject_ref(self, subject: str) -> str:
        """Audit events about an end user name them by their erasable reference."""
        try:
            compliance = self.compliance
        except ImportError as e:
            raise _missing_extra("compliance", e.name or "phonenumbers") from e
        return await compliance.subject_ref(subject)

    def audit_keyring(self) -> Keyring:
        """The configured keyring, else the embedded audit key file (created if absent)."""
        s = self.settings
        if s.encryption_key is not None or s.encryption_key_file is not None:
            return self.keyring
        from backbeat.security import local_keyring

        return local_keyring(s)[0]

    @property
    def key_manager(self) -> KeyManager:
        """The :class:`~backbeat.security.KeyManager`: ``BACKBEAT_KEY_PROVIDER``'s master
        key (the local keyring, or an HSM through PKCS#11), usage counters in this
        toolkit's database. Built on first access; closed with the toolkit."""
        if self._key_manager is None:
            from backbeat.security import (
                KeyManager,
                SqlKeyUsageStore,
                policy_from_settings,
                provider_from_settings,
            )

            s = self.settings
            usage = SqlKeyUsageStore(self.database_engine(), migrate=s.database_backend == "sqlite")
            self._key_manager = KeyManager(
                provider_from_settings(s), usage, policy_from_settings(s)
            )
        return self._key_manager

    @property
    def monitor(self) -> SystemMonitor:
        """The :class:`~backbeat.monitoring.SystemMonitor` (SLOs, alerts, session and
        stream QoS) from ``BACKBEAT_MONITORING_FILE`` and ``ALERTMANAGER_URL``; the seed's
        ``performance_monitor`` (``qos_manager``'s samples land here). Built on first access."""
        if self._monitor is None:
            try:
                from backbeat.monitoring import create_system_monitor
            except ImportError as e:
                raise _missing_extra("monitoring", e.name or "prometheus-client") from e
            self._monitor = create_system_monitor(self.settings)
        return self._monitor

    @property
    def analytics(self) -> BusinessAnalytics:
        """The seed's ``business_analytics`` over ``BACKBEAT_ANALYTICS_SOURCE`` (a folder of
        events, subscriptions and payments files) or, without it, the service's own database
        (listening events, billing events); the ``analytics`` extra."""
        if self._analytics is None:
            try:
                from backbeat.analytics import create_business_analytics
            except ImportError as e:
                raise _missing_extra("analytics", e.name or "ibis-framework") from e
            source = self.settings.analytics_source
            self._analytics = create_business_analytics(
                source if source is not None else self.settings.database_url
            )
        return self._analytics

    @property
    def compliance(self) -> GdprCompliance:
        """The seed's ``compliance_monitor``: data-subject requests, consent, erasure,
        records of processing and retention over this toolkit's database, keyring, cache,
        audit trail and Redis (``BACKBEAT_SMTP_URL`` for mail, ``BACKBEAT_RETENTION``)."""
        if self._compliance is None:
            from backbeat.compliance import create_gdpr_compliance

            self._compliance = create_gdpr_compliance(self)
        return self._compliance

    def use_monitor(self, monitor: SystemMonitor) -> None:
        """Adopt a monitor built elsewhere (the service builds one on its app's metrics)."""
        self._monitor = monitor

    async def migrate(self) -> None:
        """Bring the database schema up to date (Alembic ``upgrade head``)."""
        from backbeat.storage import upgrade

        await upgrade(self.database_engine())

    # -- seed keys and the services behind them -------------------------------------

    def __getitem__(self, key: str) -> Any:
        """The seed's ``utils_suite['audio_processor']`` spelling: see :data:`SEED_KEYS`."""
        attribute = SEED_KEYS.get(key)
        if attribute is None:
            raise ConfigurationError(
                "config.suite_key",
                details={"key": key, "known": ", ".join(sorted(SEED_KEYS))},
                message="The suite has no {key!r} (yet); it has: {known}.",
            )
        return getattr(self, attribute)

    @property
    def audio_processor(self) -> AudioProcessor:
        """Async audio feature extraction (the ``audio`` extra)."""
        try:
            from backbeat.audio import AudioProcessor
        except ImportError as e:
            raise _missing_extra("audio", e.name or "soundfile") from e
        return AudioProcessor()

    def model_registry(self) -> ModelRegistry:
        """The registry under ``<BACKBEAT_DATA_DIR>/models``, the one the CLI writes."""
        try:
            from backbeat.recommend import ModelRegistry
        except ImportError as e:
            raise _missing_extra("ml", e.name or "implicit") from e
        return ModelRegistry(self.settings.data_dir / "models")

    @property
    def model_manager(self) -> ModelManager:
        """``await get_model(name)`` on :meth:`model_registry`."""
        if self._models is None:
            from backbeat.recommend import ModelManager

            self._models = ModelManager(self.model_registry())
        return self._models

    @property
    def recommendation_engine(self) -> RecommendationEngine:
        """The production ``recommendation`` model of :meth:`model_registry`."""
        if self._engine_rec is None:
            from backbeat.recommend import RecommendationEngine

            self._engine_rec = RecommendationEngine(self.model_manager)
        return self._engine_rec

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
                from backbeat.storage import create_engine
            except ImportError as e:
                raise _missing_extra("server", "sqlalchemy") from e
            try:
                self._engine = create_engine(self.settings.database_url)
            except ImportError as e:
                extra = "server" if self.settings.database_backend == "sqlite" else "postgres"
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


def create_enterprise_utils_suite(config: Mapping[str, Any] | None = None) -> Toolkit:
    """The seed's entry point: a :class:`Toolkit` from the environment and ``config``.

    ``config`` holds :class:`Settings` fields by name (``{"data_dir": "var"}``) and,
    accepted for the seed's examples, its feature switches (:data:`SEED_FLAGS`), which
    change nothing. Any other key is a ``ConfigurationError`` naming it. The suite's
    services are ``suite["audio_processor"]`` etc. (:data:`SEED_KEYS`); use it as
    ``async with`` to close them.
    """
    given = dict(config or {})
    fields = set(Settings.model_fields)
    unknown = sorted(k for k in given if k not in fields and k not in SEED_FLAGS)
    if unknown:
        raise ConfigurationError(
            "config.suite_option",
            details={"keys": ", ".join(unknown)},
            message="Unknown suite option(s) {keys}: give Settings fields or the seed's flags.",
        )
    overrides = {k: v for k, v in given.items() if k in fields}
    return Toolkit(Settings.from_env(**overrides))
