"""API keys and third-party credentials: what the service keeps per caller.

Each is a small repository over its own table. Credentials are stored as the
ciphertext the caller hands in (sealed with the keyring by the service); this
module never sees a secret in clear.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from backbeat.catalogue._records import ApiKeyRecord, aware, now
from backbeat.storage import api_keys, credentials

__all__ = ["ApiKeyRepository", "CredentialRepository", "StoredCredential"]


class ApiKeyRepository:
    """The service's API keys: public id, name, HMAC of the secret, scopes, revocation."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

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
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(sa.select(api_keys).where(api_keys.c.key_id == key_id))
            ).first()
        return ApiKeyRecord.from_row(row) if row is not None else None

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
