"""What an operator (and the console) needs beyond ``/health``.

- ``GET /v1/me``: the calling key's id, name and scopes (any valid key): a client learns
  what it may do without trying.
- ``/v1/admin/keys`` (admin): list, create (the key is in the answer once, never again),
  revoke. Creations and revocations are audited.
- ``/v1/admin/jobs`` (admin): analysis jobs that gave up, and ``POST .../retry`` to queue
  one again with fresh attempts (audited).
- ``GET /v1/admin/audit`` (admin): every audit chain verified now (links, MACs, signed
  checkpoints), with the first bad event of a broken one.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, Field

from backbeat.errors import NotFound, ValidationError
from backbeat.server._auth import SCOPES, api_key_scheme, authenticate
from backbeat.server._context import record_write
from backbeat.server._deps import Admin, CatalogueDep, ServicesDep

__all__ = ["router"]

router = APIRouter(tags=["administration"])


class NewKey(BaseModel):
    name: str = Field(min_length=1, max_length=100, description="Who or what the key is for")
    scopes: list[str] = Field(min_length=1, max_length=4, examples=[["read"]])


@router.get("/v1/me", summary="The calling key: id, name and scopes")
async def me(request: Request, catalogue: CatalogueDep) -> dict[str, Any]:
    principal = await authenticate(request)
    name = None
    if not principal.key_id.startswith("jwt:"):
        record = await catalogue.api_keys.get(principal.key_id)
        name = record.name if record is not None else None
    return {"id": principal.key_id, "name": name, "scopes": sorted(principal.scopes)}


@router.get("/v1/admin/keys", summary="API keys (never the keys themselves)")
async def list_keys(catalogue: CatalogueDep, _: Admin) -> dict[str, Any]:
    records = await catalogue.api_keys.list()
    return {
        "items": [
            {
                "id": r.key_id,
                "name": r.name,
                "scopes": sorted(r.scopes),
                "created_at": r.created_at.isoformat(),
                "revoked_at": r.revoked_at.isoformat() if r.revoked_at else None,
            }
            for r in records
        ]
    }


@router.post("/v1/admin/keys", status_code=201, summary="Create a key (shown once)")
async def create_key(
    body: NewKey, request: Request, catalogue: CatalogueDep, _: Admin
) -> dict[str, Any]:
    wanted = frozenset(s.strip() for s in body.scopes)
    if not wanted <= SCOPES:
        raise ValidationError(
            "validation.invalid",
            details={"field": "scopes", "problem": "use read, write, billing or admin"},
            message="{field} is invalid: {problem}.",
        )
    new = api_key_scheme.generate()
    await catalogue.api_keys.add(new.key_id, body.name, new.hash, wanted)
    await record_write(request, "apikey.create", f"apikey:{new.key_id}", {"name": body.name})
    return {"id": new.key_id, "name": body.name, "scopes": sorted(wanted), "key": new.plaintext}


@router.delete("/v1/admin/keys/{key_id}", status_code=204, summary="Revoke a key at once")
async def revoke_key(
    key_id: Annotated[str, Path(max_length=40)],
    request: Request,
    catalogue: CatalogueDep,
    _: Admin,
) -> Response:
    if not await catalogue.api_keys.revoke(key_id):
        await record_write(
            request, "apikey.revoke", f"apikey:{key_id}", error_code="operations.key_unknown"
        )
        raise NotFound(
            "operations.key_unknown",
            details={"key_id": key_id},
            message="No active API key {key_id}.",
        )
    await record_write(request, "apikey.revoke", f"apikey:{key_id}")
    return Response(status_code=204)


@router.get("/v1/admin/jobs", summary="Analysis jobs that failed for good, newest first")
async def failed_jobs(
    catalogue: CatalogueDep,
    _: Admin,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    stats = await catalogue.jobs.stats()
    return {
        "queued": stats.queued,
        "running": stats.running,
        "failed": stats.failed,
        "items": await catalogue.jobs.failed(limit),
    }


@router.post("/v1/admin/jobs/{track_id}/retry", summary="Queue a failed analysis again")
async def retry_job(
    track_id: str, request: Request, services: ServicesDep, _: Admin
) -> dict[str, Any]:
    catalogue = services.catalogue
    resolved = await catalogue.resolve_track_id(track_id)
    job = await catalogue.jobs.retry(resolved)
    if job is None:
        await record_write(
            request, "analysis.retry", f"track:{resolved}", error_code="operations.job_not_failed"
        )
        raise NotFound(
            "operations.job_not_failed",
            details={"track": resolved},
            message="Track {track} has no failed analysis to retry.",
        )
    await record_write(request, "analysis.retry", f"track:{resolved}")
    await services.enqueued(job.track_id, job.audio_sha256)
    return {"id": resolved, "status": job.status}


@router.get("/v1/admin/audit", summary="Every audit chain verified now")
async def audit_status(services: ServicesDep, _: Admin) -> dict[str, Any]:
    from backbeat.audit import verify_chain

    trail = services.toolkit.audit
    chains = []
    for name in await trail.store.chains():
        report = await verify_chain(trail.store, trail.sealer, name)
        chains.append(
            {
                "chain": report.chain,
                "ok": report.ok,
                "events": report.events,
                "checkpoints": report.checkpoints,
                "bad_seq": report.bad_seq,
                "bad_event_id": report.bad_event_id,
                "reason": report.reason,
            }
        )
    return {"ok": all(c["ok"] for c in chains), "chains": chains}
