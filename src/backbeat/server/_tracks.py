"""``POST /v1/tracks`` and ``GET /v1/tracks/{id}``: the user's catalogue.

A track is registered with its metadata (multipart field ``metadata``: a JSON
track object, :class:`~backbeat.catalogue.TrackMetadata`) and, optionally, its
audio (field ``audio``, or ``audio_path`` naming a file under
``BACKBEAT_MEDIA_ROOT``). Audio goes through the catalogue's media store (streamed,
size-limited, checked to be audio, stored under its SHA-256); new audio queues an
analysis job.
"""

from __future__ import annotations

from typing import Annotated, Any

import anyio
from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import JSONResponse

from backbeat.catalogue import StoredMedia, TrackMetadata
from backbeat.errors import NotFound, ValidationError
from backbeat.server._context import record_write
from backbeat.server._deps import CatalogueDep, Reader, ServicesDep, SettingsDep, Writer
from backbeat.server._paging import paging
from backbeat.validation import parse_json_model

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["catalogue"])
_CHUNK = 1 << 20


@router.post(
    "/tracks",
    status_code=201,
    summary="Register a track (metadata, and audio to analyse)",
    responses={
        201: {"description": "The track; `analysis` says whether its audio is queued"},
        413: {"description": "Upload too large"},
        422: {"description": "Undecodable audio"},
    },
)
async def post_track(
    request: Request,
    metadata: Annotated[str, Form(description="JSON track object (see TrackMetadata)")],
    services: ServicesDep,
    settings: SettingsDep,
    _: Writer,
    audio: Annotated[UploadFile | None, File(description="The audio file")] = None,
    audio_path: Annotated[
        str | None,
        Form(description="Instead of `audio`: a file path relative to BACKBEAT_MEDIA_ROOT"),
    ] = None,
) -> JSONResponse:
    track_in = parse_json_model("metadata", metadata, TrackMetadata)
    catalogue = services.catalogue
    stored: StoredMedia | None = None
    if audio is not None and audio_path is not None:
        raise ValidationError(
            "validation.invalid",
            details={"field": "audio_path", "problem": "send either audio or audio_path"},
            message="{field} is invalid: {problem}.",
        )
    if audio is not None:

        async def chunks() -> Any:
            while chunk := await audio.read(_CHUNK):
                yield chunk

        stored = await catalogue.media.save_stream(chunks(), name=audio.filename)
    elif audio_path is not None:
        stored = await anyio.to_thread.run_sync(
            catalogue.media.copy_from, settings.media_root, audio_path
        )
    sha = stored.sha256 if stored else None
    queued = await catalogue.register(track_in, stored)
    await record_write(
        request, "track.upsert", f"track:{track_in.id}", {"audio_sha256": sha, "queued": queued}
    )
    if queued and sha is not None:
        await services.enqueued(track_in.id, sha)
    await services.results.invalidate(track_in.id)
    record = await catalogue.tracks.get(track_in.id)
    body: dict[str, Any] = record.to_spotify() if record else {}
    body["analysis"] = "queued" if queued else ("unchanged" if sha else "no_audio")
    return JSONResponse(body, status_code=201)


@router.get("/tracks", summary="The catalogue: paged, searchable, with analysis status")
async def list_tracks(
    request: Request,
    catalogue: CatalogueDep,
    _: Reader,
    q: Annotated[str, Query(max_length=100, description="In names, artists, ISRC")] = "",
    limit: Annotated[int, Query(ge=1, le=50)] = 20,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> dict[str, Any]:
    found, total = await catalogue.tracks.page(query=q.strip(), limit=limit, offset=offset)
    items = []
    for record, status, features in found:
        item = record.to_spotify()
        item["analysis"] = status
        if features is not None:
            item["audio_features"] = {
                k: features.get(k) for k in ("tempo", "key", "mode", "time_signature")
            }
        items.append(item)
    base = str(request.url.remove_query_params(["offset", "limit"]))
    return paging(base, items, total, limit, offset)


@router.get("/tracks/{track_id:path}", summary="A registered track")
async def get_track(track_id: str, catalogue: CatalogueDep, _: Reader) -> dict[str, Any]:
    resolved = await catalogue.resolve_track_id(track_id)
    record = await catalogue.tracks.get(resolved)
    if record is None:
        raise NotFound(details={"id": track_id})
    return record.to_spotify()
