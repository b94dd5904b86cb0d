"""Master keys' shared bookkeeping: the rotation policy and where usage is counted.

A master key's state (active, retired, destroyed) and how many data keys it has wrapped
live in a :class:`KeyUsageStore`: the database (``encryption_keys``, every process of a
deployment) or this process's memory. Rotation is a compare-and-set on the state
(:meth:`KeyUsageStore.retire`), so processes reaching a limit together rotate once.
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from backbeat.errors import ConfigurationError, ValidationError

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = [
    "GCM_RANDOM_NONCE_LIMIT",
    "KeyRecord",
    "KeyStatus",
    "KeyUsageStore",
    "MemoryKeyUsageStore",
    "RotationPolicy",
    "SqlKeyUsageStore",
    "utcnow",
]

#: NIST SP 800-38D 8.3: invocations of one key with random 96-bit nonces.
GCM_RANDOM_NONCE_LIMIT = 2**32

KeyState = Literal["active", "retired", "destroyed"]


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class RotationPolicy:
    """When master keys rotate and how long a data key is reused."""

    max_age: dt.timedelta | None = dt.timedelta(days=90)
    max_encryptions: int = 2**30
    data_key_max_age_s: float = 300.0
    data_key_max_messages: int = 2**20
    #: How often (seconds) a process re-reads the shared counters when it has no reason to.
    check_interval_s: float = 10.0

    def __post_init__(self) -> None:
        if not 1 <= self.max_encryptions <= GCM_RANDOM_NONCE_LIMIT:
            raise ValidationError(
                "validation.invalid",
                details={"field": "max_encryptions", "limit": GCM_RANDOM_NONCE_LIMIT},
                message="{field} must be between 1 and {limit} (NIST SP 800-38D).",
            )
        if not 1 <= self.data_key_max_messages <= GCM_RANDOM_NONCE_LIMIT:
            raise ValidationError(
                "validation.invalid",
                details={"field": "data_key_max_messages", "limit": GCM_RANDOM_NONCE_LIMIT},
                message="{field} must be between 1 and {limit} (NIST SP 800-38D).",
            )

    def due(self, record: KeyRecord, now: dt.datetime) -> str | None:
        """Why ``record``'s key must rotate now, or ``None``."""
        if record.encryptions >= self.max_encryptions:
            return "max_encryptions"
        if self.max_age is not None and now - record.created_at >= self.max_age:
            return "max_age"
        return None


@dataclass(frozen=True)
class KeyRecord:
    """A master key's shared bookkeeping (never its material)."""

    key_id: str
    provider: str
    state: KeyState
    created_at: dt.datetime
    encryptions: int = 0
    retired_at: dt.datetime | None = None


@dataclass(frozen=True)
class KeyStatus:
    """One line of ``backbeat keys status``."""

    key_id: str
    provider: str
    current: bool
    state: str
    created_at: dt.datetime | None
    age_days: float | None
    encryptions: int
    max_encryptions: int
    rotation_due: str | None
    label: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "key_id": self.key_id,
            "provider": self.provider,
            "label": self.label,
            "current": self.current,
            "state": self.state,
            "created_at": self.created_at.isoformat() if self.created_at else None,
            "age_days": None if self.age_days is None else round(self.age_days, 2),
            "encryptions": self.encryptions,
            "max_encryptions": self.max_encryptions,
            "rotation_due": self.rotation_due,
        }


@runtime_checkable
class KeyUsageStore(Protocol):
    """Where master keys' states and usage counters are shared between processes."""

    async def register(self, key_id: str, provider: str, now: dt.datetime) -> KeyRecord: ...

    async def add_uses(self, key_id: str, n: int) -> int: ...

    async def retire(self, key_id: str, now: dt.datetime) -> bool: ...

    async def records(self) -> list[KeyRecord]: ...

    async def aclose(self) -> None: ...


class MemoryKeyUsageStore:
    """:class:`KeyUsageStore` in this process (tests, tools without a database)."""

    def __init__(self) -> None:
        self._records: dict[str, KeyRecord] = {}
        self._lock = threading.Lock()

    async def register(self, key_id: str, provider: str, now: dt.datetime) -> KeyRecord:
        with self._lock:
            record = self._records.get(key_id)
            if record is None:
                record = self._records[key_id] = KeyRecord(key_id, provider, "active", now)
            return record

    async def add_uses(self, key_id: str, n: int) -> int:
        with self._lock:
            record = self._records[key_id]
            self._records[key_id] = replace(record, encryptions=record.encryptions + n)
            return record.encryptions + n

    async def retire(self, key_id: str, now: dt.datetime) -> bool:
        with self._lock:
            record = self._records.get(key_id)
            if record is None or record.state != "active":
                return False
            self._records[key_id] = replace(record, state="retired", retired_at=now)
            return True

    async def records(self) -> list[KeyRecord]:
        with self._lock:
            return list(self._records.values())

    async def aclose(self) -> None:
        return None


class SqlKeyUsageStore:
    """:class:`KeyUsageStore` on the ``encryption_keys`` table (SQLite or PostgreSQL).

    ``migrate=True`` (the embedded SQLite default) brings the schema up to date on
    first use; otherwise a missing table is a clear ``security.keys_not_migrated``.
    """

    def __init__(self, engine: AsyncEngine, *, migrate: bool = False, owns: bool = False) -> None:
        self.engine = engine
        self._migrate = migrate
        self._owns = owns
        self._ready = False

    async def _prepare(self) -> None:
        if self._ready:
            return
        from sqlalchemy.exc import OperationalError, ProgrammingError

        from backbeat.storage import encryption_keys, upgrade

        if self._migrate:
            await upgrade(self.engine)
        try:
            async with self.engine.connect() as conn:
                await conn.execute(encryption_keys.select().limit(1))
        except (OperationalError, ProgrammingError):
            raise ConfigurationError(
                "security.keys_not_migrated",
                message=(
                    "The database has no encryption_keys table: run `backbeat db upgrade` "
                    "(or `await Toolkit.migrate()`) first."
                ),
            ) from None
        self._ready = True

    async def register(self, key_id: str, provider: str, now: dt.datetime) -> KeyRecord:
        import sqlalchemy as sa

        from backbeat.storage import encryption_keys as t

        await self._prepare()
        async with self.engine.begin() as conn:
            row = (await conn.execute(sa.select(t).where(t.c.key_id == key_id))).first()
            if row is None:
                try:
                    async with conn.begin_nested():
                        await conn.execute(
                            t.insert().values(
                                key_id=key_id,
                                provider=provider,
                                state="active",
                                created_at=now,
                                encryptions=0,
                            )
                        )
                except sa.exc.IntegrityError:
                    pass  # another process registered it first
                row = (await conn.execute(sa.select(t).where(t.c.key_id == key_id))).one()
        return _record(row)

    async def add_uses(self, key_id: str, n: int) -> int:
        import sqlalchemy as sa

        from backbeat.storage import encryption_keys as t

        await self._prepare()
        async with self.engine.begin() as conn:
            await conn.execute(
                t.update().where(t.c.key_id == key_id).values(encryptions=t.c.encryptions + n)
            )
            total = (
                await conn.execute(sa.select(t.c.encryptions).where(t.c.key_id == key_id))
            ).scalar_one()
        return int(total)

    async def retire(self, key_id: str, now: dt.datetime) -> bool:
        from backbeat.storage import encryption_keys as t

        await self._prepare()
        async with self.engine.begin() as conn:
            result = await conn.execute(
                t.update()
                .where(t.c.key_id == key_id, t.c.state == "active")
                .values(state="retired", retired_at=now)
            )
        return bool(result.rowcount)

    async def records(self) -> list[KeyRecord]:
        import sqlalchemy as sa

        from backbeat.storage import encryption_keys as t

        await self._prepare()
        async with self.engine.connect() as conn:
            rows = (await conn.execute(sa.select(t).order_by(t.c.created_at.desc()))).all()
        return [_record(r) for r in rows]

    async def aclose(self) -> None:
        if self._owns:
            await self.engine.dispose()


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)  # SQLite drops the offset; we store UTC
    return value


def _record(row: Any) -> KeyRecord:
    created = _aware(row.created_at)
    assert created is not None
    return KeyRecord(
        key_id=row.key_id,
        provider=row.provider,
        state=row.state,
        created_at=created,
        encryptions=int(row.encryptions),
        retired_at=_aware(row.retired_at),
    )
