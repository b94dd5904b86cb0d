"""Spotify-compatible reads: audio features (one or many) and audio analysis.

A track whose audio is registered but not analysed yet answers ``202 Accepted``
with ``Retry-After`` (the job is queued or running); a failed analysis answers
with its error in Spotify's error shape; an unknown track is 404.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from backbeat.audio import spotify_audio_features
from backbeat.errors import NotFound, ValidationError
from backbeat.server._deps import Reader, Services, ServicesDep

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["audio"])
_FEATURES_EXAMPLE = {
    "acousticness": 0.0121,
    "danceability": 0.912,
    "duration_ms": 215000,
    "energy": 0.734,
    "instrumentalness": 0.962,
    "key": 0,
    "liveness": 0.031,
    "loudness": -8.41,
    "mode": 1,
    "speechiness": 0.0082,
    "tempo": 120.01,
    "time_signature": 4,
    "valence": 0.65,
    "id": "4uLU6hMCjMI75M1A2tKUQC",
    "type": "audio_features",
    "uri": "spotify:track:4uLU6hMCjMI75M1A2tKUQC",
    "track_href": "/v1/tracks/4uLU6hMCjMI75M1A2tKUQC",
    "analysis_url": "/v1/audio-analysis/4uLU6hMCjMI75M1A2tKUQC",
}
_PENDING_EXAMPLE = {"id": "4uLU6hMCjMI75M1A2tKUQC", "status": "queued"}
_ERROR_EXAMPLE = {"error": {"status": 404, "message": "Not found.", "code": "not_found"}}


def _doc(ok: dict[str, Any]) -> dict[int | str, dict[str, Any]]:
    return {
        200: {"content": {"application/json": {"example": ok}}},
        202: {
            "description": "Analysis queued or running; retry after Retry-After",
            "content": {"application/json": {"example": _PENDING_EXAMPLE}},
        },
        404: {"content": {"application/json": {"example": _ERROR_EXAMPLE}}},
    }


RETRY_AFTER_S = 2
MAX_IDS = 100


class AnalysisFailed(ValidationError):
    """The track's audio could not be analysed (``details["cause"]`` says why)."""

    default_code = "audio.analysis_failed"
    default_message = "The analysis of this track failed ({cause})."
    http_status = 422


def spotify_features(track_id: str, fields: dict[str, Any]) -> dict[str, Any]:
    return spotify_audio_features(track_id, fields, base_url="")


def _pending(track_id: str, status: str) -> JSONResponse:
    return JSONResponse(
        {"id": track_id, "status": status},
        status_code=202,
        headers={"Retry-After": str(RETRY_AFTER_S)},
    )


async def _one(services: Services, raw_id: str, column: str) -> JSONResponse:
    catalogue = services.catalogue
    track_id = await catalogue.resolve_track_id(raw_id)
    cached = await services.results.get(column, track_id)
    if cached is not None:
        return JSONResponse(cached)
    track = await catalogue.tracks.get(track_id)
    if track is None or track.audio_sha256 is None:
        raise NotFound(details={"id": raw_id})
    results = await catalogue.tracks.results([track_id], column)
    if track_id in results:
        body = results[track_id]
        if column == "features":
            body = spotify_features(track_id, body)
        await services.results.set(column, track_id, body)
        return JSONResponse(body)
    job = (await catalogue.jobs.for_tracks([track_id])).get(track_id)
    if job is not None and job.status == "failed":
        raise AnalysisFailed(details={"cause": job.error_code or "unknown"})
    return _pending(track_id, job.status if job else "queued")


@router.get(
    "/audio-features/{track_id:path}",
    summary="Audio features of one track (Spotify's shape)",
    responses=_doc(_FEATURES_EXAMPLE),
)
async def audio_features(track_id: str, services: ServicesDep, _: Reader) -> JSONResponse:
    return await _one(services, track_id, "features")


@router.get(
    "/audio-analysis/{track_id:path}",
    summary="Audio analysis of one track (Spotify's shape)",
    responses=_doc(
        {
            "track": {"tempo": 120.01, "key": 0, "mode": 1, "time_signature": 4},
            "bars": [{"start": 0.52, "duration": 2.0, "confidence": 0.93}],
            "beats": [{"start": 0.52, "duration": 0.5, "confidence": 0.88}],
            "tatums": [],
            "sections": [],
            "segments": [],
            "meta": {"analyzer_version": "backbeat 0.1.0"},
        }
    ),
)
async def audio_analysis(track_id: str, services: ServicesDep, _: Reader) -> JSONResponse:
    return await _one(services, track_id, "analysis")


@router.get(
    "/audio-features",
    summary="Audio features of up to 100 tracks: {audio_features: [object or null]}",
    responses={
        200: {
            "content": {
                "application/json": {"example": {"audio_features": [_FEATURES_EXAMPLE, None]}}
            }
        },
        202: {"description": "Some are still being analysed (null in the list)"},
    },
)
async def several_audio_features(
    services: ServicesDep,
    _: Reader,
    ids: Annotated[str, Query(description="Comma-separated track IDs (at most 100)")],
) -> JSONResponse:
    raw = [part for part in ids.split(",") if part.strip()]
    if not raw or len(raw) > MAX_IDS:
        raise ValidationError(
            "validation.too_many_ids",
            details={"count": len(raw), "limit": MAX_IDS},
            message="Give between 1 and {limit} IDs; {count} were given.",
        )
    catalogue = services.catalogue
    track_ids = [await catalogue.resolve_track_id(part.strip()) for part in raw]
    results = await catalogue.tracks.results(track_ids, "features")
    jobs = await catalogue.jobs.for_tracks(track_ids)
    pending = any(
        t not in results and t in jobs and jobs[t].status in ("queued", "running")
        for t in track_ids
    )
    body = {
        "audio_features": [
            spotify_features(t, results[t]) if t in results else None for t in track_ids
        ]
    }
    if pending:
        return JSONResponse(body, status_code=202, headers={"Retry-After": str(RETRY_AFTER_S)})
    return JSONResponse(body)
