"""API keys and third-party credentials: what the service keeps per caller.

Each is a small repository over its own table. Credentials are stored as the
ciphertext the caller hands in (sealed with the keyring by the service); this
module never sees a secret in clear.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from backbeat.catalogue._records import ApiKeyRecord, aware, now
from backbeat.storage import api_keys, credentials

__all__ = ["ApiKeyRepository", "CredentialRepository", "StoredCredential"]


def _sqlite_file(engine: AsyncEngine) -> str | None:
    """The database file of a SQLite engine (``None`` for other databases or memory)."""
    if engine.dialect.name != "sqlite":
        return None
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return database


def _timestamp(value: Any) -> dt.datetime | None:
    if value is None or isinstance(value, dt.datetime):
        return value
    return dt.datetime.fromisoformat(str(value))


class ApiKeyRepository:
    """The service's API keys: public id, name, HMAC of the secret, scopes, revocation.

    Every authenticated request reads its key here, so revocation takes effect at once in
    every process (no cache). On SQLite the read goes through a plain ``sqlite3``
    connection in the caller's thread: a primary-key read takes ~20 us there, against
    ~1 ms and two thread hand-offs through aiosqlite, which under load were a quarter of
    a recommendation request's CPU (profiled at 150 req/s). WAL readers never block
    writers, so this costs the writers nothing.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._sqlite: sqlite3.Connection | None = None
        self._sqlite_path = _sqlite_file(engine)
        self._lock = threading.Lock()

    async def add(self, key_id: str, name: str, digest: str, scopes: frozenset[str]) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                api_keys.insert().values(
                    key_id=key_id,
                    name=name,
                    hash=digest,
                    scopes=",".join(sorted(scopes)),
                    created_at=now(),
                )
            )

    async def get(self, key_id: str) -> ApiKeyRecord | None:
        if self._sqlite_path is not None:
            answered, found = self._get_sqlite(key_id)
            if answered:
                return found
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(sa.select(api_keys).where(api_keys.c.key_id == key_id))
            ).first()
        return ApiKeyRecord.from_row(row) if row is not None else None

    def _get_sqlite(self, key_id: str) -> tuple[bool, ApiKeyRecord | None]:
        with self._lock:
            if self._sqlite is None:
                assert self._sqlite_path is not None
                self._sqlite = sqlite3.connect(
                    self._sqlite_path, check_same_thread=False, isolation_level=None
                )
                self._sqlite.row_factory = sqlite3.Row
            try:
                row = self._sqlite.execute(
                    "SELECT key_id, name, hash, scopes, created_at, revoked_at "
                    "FROM api_keys WHERE key_id = ?",
                    (key_id,),
                ).fetchone()
            except sqlite3.OperationalError:  # not migrated yet: let SQLAlchemy say so
                return False, None
        if row is None:
            return True, None
        return True, ApiKeyRecord.from_row(
            SimpleNamespace(
                key_id=row["key_id"],
                name=row["name"],
                hash=row["hash"],
                scopes=row["scopes"],
                created_at=_timestamp(row["created_at"]),
                revoked_at=_timestamp(row["revoked_at"]),
            )
        )

    def close(self) -> None:
        with self._lock:
            if self._sqlite is not None:
                self._sqlite.close()
                self._sqlite = None

    async def list(self) -> list[ApiKeyRecord]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(sa.select(api_keys).order_by(api_keys.c.created_at))
            return [ApiKeyRecord.from_row(r) for r in rows]

    async def revoke(self, key_id: str) -> bool:
        """``True`` when an active key was revoked now."""
        async with self.engine.begin() as conn:
            result = await conn.execute(
                api_keys.update()
                .where(api_keys.c.key_id == key_id, api_keys.c.revoked_at.is_(None))
                .values(revoked_at=now())
            )
        return bool(result.rowcount)


@dataclass(frozen=True, slots=True)
class StoredCredential:
    owner: str
    provider: str
    ciphertext: str
    expires_at: dt.datetime | None
    updated_at: dt.datetime


def credential_binding(owner: str, provider: str) -> bytes:
    """The associated data a credential's ciphertext is bound to: moved to another row,
    it no longer decrypts."""
    return f"credentials|{owner}|{provider}".encode()


class CredentialRepository:
    """Sealed third-party token sets, one per (owner, provider)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    @staticmethod
    def _key(owner: str, provider: str) -> Any:
        return (credentials.c.owner == owner) & (credentials.c.provider == provider)

    async def put(
        self, owner: str, provider: str, ciphertext: str, expires_at: dt.datetime | None
    ) -> None:
        """Store (replace) the ciphertext of ``owner``'s token set for ``provider``."""
        async with self.engine.begin() as conn:
            await conn.execute(credentials.delete().where(self._key(owner, provider)))
            await conn.execute(
                credentials.insert().values(
                    owner=owner,
                    provider=provider,
                    ciphertext=ciphertext,
                    expires_at=expires_at,
                    updated_at=now(),
                )
            )

    async def get(self, owner: str, provider: str) -> StoredCredential | None:
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(sa.select(credentials).where(self._key(owner, provider)))
            ).first()
        if row is None:
            return None
        return StoredCredential(
            owner=row.owner,
            provider=row.provider,
            ciphertext=row.ciphertext,
            expires_at=aware(row.expires_at),
            updated_at=aware(row.updated_at) or now(),
        )

    async def delete(self, owner: str, provider: str) -> bool:
        async with self.engine.begin() as conn:
            result = await conn.execute(credentials.delete().where(self._key(owner, provider)))
        return bool(result.rowcount)
