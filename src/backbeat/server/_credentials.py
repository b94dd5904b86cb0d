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

from fastapi import APIRouter, Path, Request, Response
from pydantic import BaseModel, Field

from backbeat.errors import NotFound
from backbeat.server._context import record_write
from backbeat.server._deps import Reader, Services, ServicesDep, Writer

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


def _keyring(services: Services) -> Any:
    """The keyring credentials are sealed with, loaded once per app (not per request)."""
    if services.keyring is None:
        services.keyring = services.toolkit.audit_keyring()
    return services.keyring


def _owner(request: Request) -> str:
    return str(request.state.principal.actor)


@router.put("/credentials/{provider}", status_code=204, summary="Store (replace) a credential")
async def put_credential(
    request: Request, provider: Provider, body: CredentialIn, services: ServicesDep, _: Writer
) -> Response:
    owner = _owner(request)
    keyring = _keyring(services)
    secret = json.dumps(body.model_dump(mode="json"))
    ciphertext = keyring.encrypt_text(secret, associated_data=_bound(owner, provider))
    await services.catalogue.credentials.put(owner, provider, ciphertext, body.expires_at)
    await record_write(request, "credential.put", f"credential:{provider}", {"scopes": body.scopes})
    return Response(status_code=204)


@router.get("/credentials/{provider}", summary="Whether a credential is stored (never the secret)")
async def get_credential(
    request: Request, provider: Provider, services: ServicesDep, _: Reader
) -> dict[str, Any]:
    owner = _owner(request)
    row = await services.catalogue.credentials.get(owner, provider)
    if row is None:
        raise NotFound(details={"provider": provider})
    keyring = _keyring(services)
    stored = json.loads(keyring.decrypt(row.ciphertext, associated_data=_bound(owner, provider)))
    return {
        "provider": provider,
        "scopes": stored.get("scopes", []),
        "has_refresh_token": bool(stored.get("refresh_token")),
        "expires_at": row.expires_at.isoformat() if row.expires_at else None,
        "updated_at": row.updated_at.isoformat(),
    }


@router.delete("/credentials/{provider}", status_code=204, summary="Forget a credential")
async def delete_credential(
    request: Request, provider: Provider, services: ServicesDep, _: Writer
) -> Response:
    if not await services.catalogue.credentials.delete(_owner(request), provider):
        raise NotFound(details={"provider": provider})
    await record_write(request, "credential.delete", f"credential:{provider}")
    return Response(status_code=204)
