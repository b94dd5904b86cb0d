"""``/v1/me/credentials/{provider}``: third-party tokens kept encrypted for their owner.

A client stores, say, its user's Spotify OAuth tokens so that backbeat can call the
provider on its behalf later. The token set is encrypted with the keyring
(AES-256-GCM, :meth:`Keyring.encrypt_text`), the owner and provider bound in as
associated data so a ciphertext cannot be moved to another row; the configured
keyring (``ENCRYPTION_KEY``/``ENCRYPTION_KEY_FILE``) is used, else the embedded key
file under the data dir. Reads return metadata only: a stored secret never leaves
the service through the API, in a log or an audit record.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Path, Request, Response
from pydantic import BaseModel, Field

from backbeat.errors import NotFound
from backbeat.server._context import record_write
from backbeat.server._tracks import Reader, Writer
from backbeat.storage import credentials

__all__ = ["router"]

router = APIRouter(prefix="/v1/me", tags=["credentials"])
Provider = Annotated[str, Path(pattern="^[a-z][a-z0-9_-]{0,49}$", examples=["spotify"])]


class CredentialIn(BaseModel):
    access_token: Annotated[str, Field(min_length=1, max_length=4096)]
    refresh_token: Annotated[str | None, Field(max_length=4096)] = None
    expires_at: dt.datetime | None = None
    scopes: Annotated[list[str], Field(max_length=100)] = Field(default_factory=list)


def _bound(owner: str, provider: str) -> bytes:
    return f"credentials|{owner}|{provider}".encode()


def _keyring(request: Request) -> Any:
    """The keyring credentials are sealed with, loaded once per app (not per request)."""
    state = request.app.state
    if getattr(state, "credentials_keyring", None) is None:
        state.credentials_keyring = state.toolkit.audit_keyring()
    return state.credentials_keyring


def _owner(request: Request) -> str:
    return str(request.state.principal.actor)


@router.put("/credentials/{provider}", status_code=204, summary="Store (replace) a credential")
async def put_credential(
    request: Request, provider: Provider, body: CredentialIn, _: Writer
) -> Response:
    owner = _owner(request)
    keyring = _keyring(request)
    secret = json.dumps(body.model_dump(mode="json"))
    ciphertext = keyring.encrypt_text(secret, associated_data=_bound(owner, provider))
    now = dt.datetime.now(dt.UTC)
    engine = request.app.state.store.engine
    key = (credentials.c.owner == owner) & (credentials.c.provider == provider)
    async with engine.begin() as conn:
        await conn.execute(credentials.delete().where(key))
        await conn.execute(
            credentials.insert().values(
                owner=owner,
                provider=provider,
                ciphertext=ciphertext,
                expires_at=body.expires_at,
                updated_at=now,
            )
        )
    await record_write(request, "credential.put", f"credential:{provider}", {"scopes": body.scopes})
    return Response(status_code=204)


@router.get("/credentials/{provider}", summary="Whether a credential is stored (never the secret)")
async def get_credential(request: Request, provider: Provider, _: Reader) -> dict[str, Any]:
    owner = _owner(request)
    engine = request.app.state.store.engine
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                sa.select(credentials).where(
                    (credentials.c.owner == owner) & (credentials.c.provider == provider)
                )
            )
        ).first()
    if row is None:
        raise NotFound(details={"provider": provider})
    keyring = _keyring(request)
    stored = json.loads(keyring.decrypt(row.ciphertext, associated_data=_bound(owner, provider)))
    expires = (
        row.expires_at.replace(tzinfo=dt.UTC)
        if row.expires_at and not row.expires_at.tzinfo
        else row.expires_at
    )
    return {
        "provider": provider,
        "scopes": stored.get("scopes", []),
        "has_refresh_token": bool(stored.get("refresh_token")),
        "expires_at": expires.isoformat() if expires else None,
        "updated_at": str(row.updated_at),
    }


@router.delete("/credentials/{provider}", status_code=204, summary="Forget a credential")
async def delete_credential(request: Request, provider: Provider, _: Writer) -> Response:
    owner = _owner(request)
    engine = request.app.state.store.engine
    async with engine.begin() as conn:
        result = await conn.execute(
            credentials.delete().where(
                (credentials.c.owner == owner) & (credentials.c.provider == provider)
            )
        )
    if not result.rowcount:
        raise NotFound(details={"provider": provider})
    await record_write(request, "credential.delete", f"credential:{provider}")
    return Response(status_code=204)
