"""``POST /v1/tracks`` and ``GET /v1/tracks/{id}``: the user's catalogue.

A track is registered with its metadata (multipart field ``metadata``: a JSON
track object) and, optionally, its audio (field ``audio``). Uploads are streamed
to ``<data_dir>/media/tmp`` with a size limit, checked to be decodable audio, then
stored under their SHA-256; new audio queues an analysis job.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tempfile
from pathlib import Path
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, field_validator
from pydantic import ValidationError as PydanticError
from redis.exceptions import RedisError

from backbeat.errors import NotFound, ValidationError
from backbeat.server._auth import Principal, require
from backbeat.server._context import record_write
from backbeat.server._store import Store, TrackRecord
from backbeat.settings import Settings
from backbeat.validation import parse_spotify_ref, validate_isrc

log = logging.getLogger("backbeat.server")

__all__ = ["Reader", "Writer", "media_path", "resolve_track_id", "router"]

router = APIRouter(prefix="/v1", tags=["catalogue"])
Reader = Annotated[Principal, Depends(require("read"))]
Writer = Annotated[Principal, Depends(require("write"))]
_ISRC_SHAPE = re.compile(r"^[A-Za-z]{2}-?[A-Za-z0-9]{3}-?\d{2}-?\d{5}$")
_CHUNK = 1 << 20


class ArtistIn(BaseModel):
    id: str
    name: str = Field(min_length=1, max_length=500)

    @field_validator("id")
    @classmethod
    def _artist_id(cls, value: str) -> str:
        return parse_spotify_ref(value, expected="artist").id


class TrackIn(BaseModel):
    """The ``metadata`` field of ``POST /v1/tracks``."""

    id: str = Field(description="Spotify track ID, URI or URL", examples=["4uLU6hMCjMI75M1A2tKUQC"])
    name: str = Field(min_length=1, max_length=500)
    artists: list[ArtistIn] = Field(min_length=1, max_length=50)
    isrc: str | None = Field(None, examples=["USRC17607839"])
    album: str | None = Field(None, max_length=500)
    genres: list[str] = Field(default_factory=list, max_length=50)
    popularity: int | None = Field(None, ge=0, le=100)

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "id": "4uLU6hMCjMI75M1A2tKUQC",
                    "name": "Song",
                    "artists": [{"id": "0OdUWJ0sBjDrqHygGUXeCF", "name": "Band"}],
                    "isrc": "USRC17607839",
                    "genres": ["rock"],
                    "popularity": 40,
                }
            ]
        }
    }

    @field_validator("id")
    @classmethod
    def _track_id(cls, value: str) -> str:
        return parse_spotify_ref(value, expected="track").id

    @field_validator("isrc")
    @classmethod
    def _isrc(cls, value: str | None) -> str | None:
        return None if value is None else validate_isrc(value).code

    def to_record(self, audio_path: str | None, audio_sha256: str | None) -> TrackRecord:
        return TrackRecord(
            id=self.id,
            name=self.name,
            artists=[a.model_dump() for a in self.artists],
            isrc=self.isrc,
            album=self.album,
            genres=self.genres,
            popularity=self.popularity,
            audio_path=audio_path,
            audio_sha256=audio_sha256,
        )


class UploadTooLarge(ValidationError):
    default_code = "validation.upload_too_large"
    default_message = "The upload is larger than {limit_mb} MB."
    http_status = 413


def _invalid_metadata(exc: PydanticError) -> ValidationError:
    first = exc.errors()[0]
    field = ".".join(str(p) for p in first.get("loc", ())) or "metadata"
    return ValidationError("validation.invalid", details={"field": field, "problem": first["msg"]})


async def resolve_track_id(store: Store, value: str) -> str:
    """A Spotify ID, URI or URL, or an ISRC of a registered track -> the track ID."""
    if _ISRC_SHAPE.match(value.strip()):
        isrc = validate_isrc(value).code
        found = await store.track_id_for_isrc(isrc)
        if found is None:
            raise NotFound(details={"id": value})
        return found
    return parse_spotify_ref(value, expected="track").id


def _media_root(settings: Settings) -> Path:
    root = (settings.data_dir / "media").resolve()
    (root / "tmp").mkdir(parents=True, exist_ok=True)
    return root


def _place(temp: Path, root: Path, sha: str, filename: str | None) -> str:
    """Check the file is audio, move it to its content address; the relative path."""
    from backbeat.audio import open_audio

    with open_audio(temp):  # raises AudioDecodeError (422) for what is not audio
        pass
    suffix = Path(filename or "").suffix.lower()
    suffix = suffix if re.fullmatch(r"\.[a-z0-9]{1,5}", suffix) else ".bin"
    relative = f"{sha[:2]}/{sha}{suffix}"
    target = root / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(temp, target)
    return relative


async def _store_upload(upload: UploadFile, settings: Settings) -> tuple[str, str]:
    """Stream the upload to disk within the size limit; ``(relative path, sha256)``."""
    root = await anyio.to_thread.run_sync(_media_root, settings)
    limit = settings.max_upload_mb * 1024 * 1024
    digest = hashlib.sha256()
    size = 0
    fd, temp_name = await anyio.to_thread.run_sync(tempfile.mkstemp, "", "up", str(root / "tmp"))
    os.close(fd)
    temp = anyio.Path(temp_name)
    try:
        async with await anyio.open_file(temp_name, "wb") as out:
            while chunk := await upload.read(_CHUNK):
                size += len(chunk)
                if size > limit:
                    raise UploadTooLarge(details={"limit_mb": settings.max_upload_mb})
                digest.update(chunk)
                await out.write(chunk)
        sha = digest.hexdigest()
        relative = await anyio.to_thread.run_sync(
            _place, Path(temp_name), root, sha, upload.filename
        )
        return relative, sha
    finally:
        await temp.unlink(missing_ok=True)


def _store_server_file(relative: str, settings: Settings) -> tuple[str, str]:
    """Copy a file named relative to ``BACKBEAT_MEDIA_ROOT`` into the media store."""
    if settings.media_root is None:
        raise ValidationError(
            "validation.media_path", message="The media path is outside the media folder."
        )
    root = settings.media_root.resolve()
    source = (root / relative).resolve()
    if root not in source.parents or not source.is_file():
        raise ValidationError(
            "validation.media_path", message="The media path is outside the media folder."
        )
    store = _media_root(settings)
    digest = hashlib.sha256()
    fd, temp_name = tempfile.mkstemp(dir=store / "tmp")
    try:
        with source.open("rb") as inp, os.fdopen(fd, "wb") as out:
            while chunk := inp.read(_CHUNK):
                digest.update(chunk)
                out.write(chunk)
        sha = digest.hexdigest()
        return _place(Path(temp_name), store, sha, source.name), sha
    finally:
        Path(temp_name).unlink(missing_ok=True)


def media_path(settings: Settings, relative: str) -> Path:
    """The absolute path of stored audio; refuses anything outside the media root."""
    root = _media_root(settings)
    path = (root / relative).resolve()
    if root not in path.parents:
        raise ValidationError(
            "validation.media_path", message="The media path is outside the media folder."
        )
    return path


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
    metadata: Annotated[str, Form(description="JSON track object (see TrackIn)")],
    _: Writer,
    audio: Annotated[UploadFile | None, File(description="The audio file")] = None,
    audio_path: Annotated[
        str | None,
        Form(description="Instead of `audio`: a file path relative to BACKBEAT_MEDIA_ROOT"),
    ] = None,
) -> JSONResponse:
    try:
        track_in = TrackIn.model_validate(json.loads(metadata))
    except (json.JSONDecodeError, TypeError):
        raise ValidationError("validation.invalid", details={"field": "metadata"}) from None
    except PydanticError as exc:
        raise _invalid_metadata(exc) from None
    settings: Settings = request.app.state.settings
    store: Store = request.app.state.store
    path = sha = None
    if audio is not None and audio_path is not None:
        raise ValidationError("validation.invalid", details={"field": "audio_path"})
    if audio is not None:
        path, sha = await _store_upload(audio, settings)
    elif audio_path is not None:
        path, sha = await anyio.to_thread.run_sync(_store_server_file, audio_path, settings)
    record = track_in.to_record(path, sha)
    queued = await store.upsert_track(record)
    await record_write(
        request, "track.upsert", f"track:{track_in.id}", {"audio_sha256": sha, "queued": queued}
    )
    if queued:
        request.app.state.jobs_waiting.set()
        await _enqueue(request, track_in.id, sha)
    await request.app.state.invalidate(track_in.id)
    stored = await store.track(track_in.id)
    body: dict[str, Any] = stored.to_spotify() if stored else {}
    body["analysis"] = "queued" if queued else ("unchanged" if sha else "no_audio")
    return JSONResponse(body, status_code=201)


async def _enqueue(request: Request, track_id: str, sha: str | None) -> None:
    """Hand the job to the Redis queue when there is one; the table keeps it either way."""
    queue = request.app.state.queue
    if queue is None or sha is None:
        return

    try:
        await queue.enqueue(track_id, sha)
    except (OSError, ConnectionError, RedisError) as exc:  # database-polling workers still see it
        log.warning("could not enqueue analysis of %s (%s)", track_id, type(exc).__name__)


@router.get("/tracks/{track_id:path}", summary="A registered track")
async def get_track(request: Request, track_id: str, _: Reader) -> dict[str, Any]:
    store: Store = request.app.state.store
    resolved = await resolve_track_id(store, track_id)
    record = await store.track(resolved)
    if record is None:
        raise NotFound(details={"id": track_id})
    return record.to_spotify()
