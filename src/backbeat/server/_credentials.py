"""``/v1/me/credentials/{provider}``: third-party tokens kept encrypted for their owner.

A client stores, say, its user's Spotify OAuth tokens so that backbeat can call the
provider on its behalf later. The token set is envelope-encrypted by the toolkit's
:class:`~backbeat.security.KeyManager` (a data key wrapped by the master key of
``BACKBEAT_KEY_PROVIDER``: the local keyring, or an HSM through PKCS#11), the owner
and provider bound in as associated data so a ciphertext cannot be moved to another
row. Rows sealed by earlier versions with the keyring alone still decrypt, and
``backbeat keys reencrypt`` moves them to envelopes. Reads return metadata only: a
stored secret never leaves the service through the API, in a log or an audit record.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response
from pydantic import BaseModel, Field

from backbeat.catalogue import credential_binding
from backbeat.errors import NotFound
from backbeat.server._context import record_write
from backbeat.server._deps import Reader, ServicesDep, Writer

__all__ = ["router"]

router = APIRouter(prefix="/v1/me", tags=["credentials"])
Provider = Annotated[str, Path(pattern="^[a-z][a-z0-9_-]{0,49}$", examples=["spotify"])]


class CredentialIn(BaseModel):
    access_token: Annotated[str, Field(min_length=1, max_length=4096)]
    refresh_token: Annotated[str | None, Field(max_length=4096)] = None
    expires_at: dt.datetime | None = None
    scopes: Annotated[list[str], Field(max_length=100)] = Field(default_factory=list)


def _owner(request: Request) -> str:
    return str(request.state.principal.actor)


@router.put("/credentials/{provider}", status_code=204, summary="Store (replace) a credential")
async def put_credential(
    request: Request, provider: Provider, body: CredentialIn, services: ServicesDep, _: Writer
) -> Response:
    owner = _owner(request)
    secret = json.dumps(body.model_dump(mode="json")).encode()
    ciphertext = await services.toolkit.key_manager.encrypt_user_data(
        secret, associated_data=credential_binding(owner, provider)
    )
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
    plain = await services.toolkit.key_manager.decrypt_user_data(
        row.ciphertext, associated_data=credential_binding(owner, provider)
    )
    stored = json.loads(plain)
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
