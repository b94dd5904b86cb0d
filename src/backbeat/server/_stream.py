"""Streaming delivery: ``GET /v1/tracks/{id}/stream/...`` (HLS made by the analysis job).

- ``master.m3u8``, ``{rendition}/index.m3u8``, ``{rendition}/init.mp4``,
  ``{rendition}/seg_NNNNN.m4s``: files of the track's package (content-addressed by the
  audio's SHA-256 under ``<data dir>/streams``), with byte ranges (206), ETags (304 on
  ``If-None-Match``) and cache headers (segments immutable, playlists a minute).
- Authorised by an API key with ``read``, or by a signed URL for players that cannot send
  headers: ``POST /v1/tracks/{id}/stream/url`` returns ``master.m3u8?expires=&sig=`` (HMAC
  over track and expiry, a key derived from the keyring); playlists served under a signature
  carry it on every URI they list, so the whole stream plays from that one URL. Expired or
  tampered signatures are 403 and nothing is served.
- ``GET /v1/tracks/{id}/waveform?points=800``: the min/max overview a waveform view draws.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import time
from pathlib import Path
from typing import Annotated, Any, ClassVar

import anyio
from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, Response

from backbeat.errors import NotFound, SecurityError
from backbeat.server._auth import authenticate
from backbeat.server._deps import CatalogueDep, Reader, ServicesDep

__all__ = ["router", "stream_folder", "stream_packager"]

router = APIRouter(prefix="/v1/tracks", tags=["streaming"])
_NAME = re.compile(
    r"^(?:master\.m3u8|(?:opus|aac)_\d{1,3}/(?:index\.m3u8|init\.mp4|seg_\d{5}\.m4s))$"
)
_URI_LINE = re.compile(r"^(?!#)(\S+)$", re.MULTILINE)
_MAP_URI = re.compile(r'URI="([^"]+)"')


class StreamRefused(SecurityError):
    """A streaming link that is not valid (tampered) or no longer valid: 403."""

    default_code = "streaming.url_invalid"
    default_message = "This streaming link is not valid."
    http_status: ClassVar[int] = 403


def stream_folder(data_dir: Path, audio_sha256: str) -> Path:
    return data_dir / "streams" / audio_sha256[:2] / audio_sha256


def stream_packager(settings: Any) -> Any:
    """The analysis worker's ``packager`` for these settings (``None`` when disabled)."""
    if not settings.streaming_enabled:
        return None
    from backbeat.streaming import package, parse_ladder

    ladder = parse_ladder(settings.stream_ladder)

    async def run(path: Path, sha256: str) -> None:
        target = stream_folder(settings.data_dir, sha256)
        await anyio.to_thread.run_sync(
            lambda: package(path, target, ladder=ladder, segment_s=settings.stream_segment_s)
        )

    return run


def _url_key(services: Any) -> bytes:
    key: bytes = services.toolkit.audit_keyring().derive(b"backbeat stream urls")[1]
    return key


def _signature(key: bytes, track: str, expires: int) -> str:
    return hmac.new(key, f"{track}:{expires}".encode(), hashlib.sha256).hexdigest()[:32]


async def _authorise(
    request: Request, services: Any, track: str, expires: int | None, sig: str | None
) -> str | None:
    """The query to carry on URIs (signed access), or ``None`` (an API key was used)."""
    if sig is None and expires is None:
        principal = await authenticate(request)
        if not principal.allows("read"):
            from backbeat.server._auth import Forbidden

            raise Forbidden(details={"scope": "read"})
        return None
    if sig is None or expires is None:
        raise StreamRefused("streaming.url_invalid", message="This streaming link is not valid.")
    expected = _signature(_url_key(services), track, expires)
    if not hmac.compare_digest(expected.encode(), sig.encode()):  # bytes: any text compares
        raise StreamRefused("streaming.url_invalid", message="This streaming link is not valid.")
    if expires < time.time():
        raise StreamRefused(
            "streaming.url_expired", message="This streaming link has expired: ask for a new one."
        )
    return f"expires={expires}&sig={sig}"


async def _stored_audio(catalogue: Any, track: str) -> tuple[Any, Path]:
    """The track's record and its stored audio file, or 404 ``streaming.no_audio_stored``."""
    record = await catalogue.tracks.get(track)
    if record is None or not record.audio_path or not record.audio_sha256:
        raise NotFound(
            "streaming.no_audio_stored",
            details={"track": track[:40]},
            message="Track {track} has no stored audio.",
        )
    return record, catalogue.media.path(record.audio_path)


def _immutable_file(
    request: Request, path: Path, etag: str, media_type: str | None = None
) -> Response:
    """A content-addressed file: cached for a year, 304 on a matching ``If-None-Match``,
    byte ranges through :class:`FileResponse`."""
    headers = {"ETag": etag, "Cache-Control": "private, max-age=31536000, immutable"}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return FileResponse(path, media_type=media_type, headers=headers)


@router.get("/{track}/waveform", summary="A waveform overview: min/max per column")
async def track_waveform(
    track: str,
    catalogue: CatalogueDep,
    services: ServicesDep,
    _: Reader,
    points: Annotated[int, Query(ge=16, le=10_000)] = 800,
) -> dict[str, Any]:
    """What a waveform view draws (the mono mix-down's lowest and highest sample per
    column), computed once per audio and width, then served from the cache."""
    from backbeat.audio import waveform

    track_id = await catalogue.resolve_track_id(track)
    record, path = await _stored_audio(catalogue, track_id)
    key = f"bb:v1:waveform:{record.audio_sha256}:{points}"
    cached = await services.results.cache.get(key)
    if cached is not None:
        result: dict[str, Any] = cached
        return result
    result = await anyio.to_thread.run_sync(lambda: waveform(path, points))
    result = {"id": track_id, **result}
    await services.results.cache.set(key, result)
    return result


@router.post("/{track}/stream/url", summary="A signed, expiring URL of the track's stream")
async def signed_url(
    track: str,
    catalogue: CatalogueDep,
    services: ServicesDep,
    _: Reader,
    ttl_s: Annotated[int, Query(ge=10, le=86_400)] = 3600,
) -> dict[str, Any]:
    track_id = await catalogue.resolve_track_id(track)
    expires = int(time.time()) + ttl_s
    sig = _signature(_url_key(services), track_id, expires)
    return {
        "url": f"/v1/tracks/{track_id}/stream/master.m3u8?expires={expires}&sig={sig}",
        "expires_at": dt.datetime.fromtimestamp(expires, dt.UTC).isoformat(),
    }


@router.get(
    "/{track}/stream/{name:path}",
    summary="HLS playlists and segments of a track (byte ranges, ETags)",
    response_class=FileResponse,
)
async def stream_file(
    track: str,
    name: str,
    request: Request,
    catalogue: CatalogueDep,
    services: ServicesDep,
    expires: int | None = None,
    sig: Annotated[str | None, Query(max_length=64, pattern="^[0-9a-f]{1,64}$")] = None,
) -> Response:
    query = await _authorise(request, services, track, expires, sig)
    if not _NAME.match(name):
        raise NotFound(
            "streaming.not_found", details={"name": name[:80]}, message="No stream file {name}."
        )
    record = await catalogue.tracks.get(track)
    if record is None or not record.audio_sha256:
        raise NotFound(
            "streaming.not_found", details={"name": name[:80]}, message="No stream file {name}."
        )
    folder = stream_folder(services.settings.data_dir, record.audio_sha256)
    path = folder / name
    if not path.is_file():
        if not (folder / "master.m3u8").exists():
            raise NotFound(
                "streaming.not_packaged",
                details={"track": track},
                message="Track {track} is not packaged for streaming yet (or has no audio).",
            )
        raise NotFound(
            "streaming.not_found", details={"name": name[:80]}, message="No stream file {name}."
        )
    if name.endswith(".m3u8"):
        text = path.read_text()
        if query is not None:  # every URI the player will follow carries the signature
            text = _URI_LINE.sub(lambda m: f"{m.group(1)}?{query}", text)
            text = _MAP_URI.sub(lambda m: f'URI="{m.group(1)}?{query}"', text)
        etag = '"' + hashlib.sha256(text.encode()).hexdigest()[:32] + '"'
        headers = {"ETag": etag, "Cache-Control": "private, max-age=60"}
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers=headers)
        return Response(text, media_type="application/vnd.apple.mpegurl", headers=headers)
    etag = f'"{record.audio_sha256[:24]}-{name.replace("/", "-")}"'
    media = "video/mp4" if name.endswith(".mp4") else "video/iso.segment"
    return _immutable_file(request, path, etag, media)


@router.get(
    "/{track}/audio",
    summary="The track's original audio file (byte ranges; API key or signed URL)",
    response_class=FileResponse,
)
async def original_audio(
    track: str,
    request: Request,
    catalogue: CatalogueDep,
    services: ServicesDep,
    expires: int | None = None,
    sig: Annotated[str | None, Query(max_length=64, pattern="^[0-9a-f]{1,64}$")] = None,
) -> Response:
    """For players without HLS: the stored file as uploaded, under the same authority as
    the stream (the ``expires``/``sig`` of ``POST .../stream/url`` work here too)."""
    await _authorise(request, services, track, expires, sig)
    record, path = await _stored_audio(catalogue, track)
    return _immutable_file(request, path, f'"{record.audio_sha256[:32]}"')
