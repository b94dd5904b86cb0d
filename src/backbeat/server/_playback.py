"""``POST /v1/playback/telemetry``: players' events, in batches, for QoS metrics.

Events: ``start``, ``first_audio``, ``stall_start``, ``stall_end``, ``switch``,
``progress``, ``error``, ``end``, each with the player's ``session`` and the ``track``, a
time, and where relevant the position, the bitrate and rendition, an error code. They are
stored (no user ID: sessions only) and turned into Prometheus series: start-up time and
stall histograms, played and stalled seconds (the rebuffer ratio), bitrate served, events
by type.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from backbeat.server._deps import CatalogueDep, Writer

__all__ = ["router"]

router = APIRouter(prefix="/v1/playback", tags=["playback"])
MAX_BATCH = 1000


class PlaybackEventIn(BaseModel):
    session: Annotated[str, Field(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")]
    track: Annotated[str, Field(pattern=r"^[0-9A-Za-z]{22}$")]
    type: Literal[
        "start", "first_audio", "stall_start", "stall_end", "switch", "progress", "error", "end"
    ]
    at: dt.datetime
    position_s: Annotated[float | None, Field(ge=0, le=86_400)] = None
    bitrate_kbps: Annotated[float | None, Field(gt=0, le=100_000)] = None
    rendition: Annotated[str | None, Field(max_length=32)] = None
    error: Annotated[str | None, Field(max_length=100)] = None


class TelemetryBatch(BaseModel):
    events: Annotated[list[PlaybackEventIn], Field(min_length=1, max_length=MAX_BATCH)]


@router.post("/telemetry", status_code=202, summary=f"Up to {MAX_BATCH} playback events")
async def post_telemetry(
    request: Request, batch: TelemetryBatch, catalogue: CatalogueDep, _: Writer
) -> JSONResponse:
    rows = [
        {
            "session_id": e.session,
            "track_id": e.track,
            "type": e.type,
            "at": (e.at if e.at.tzinfo else e.at.replace(tzinfo=dt.UTC)).timestamp(),
            "position_s": e.position_s,
            "bitrate_kbps": e.bitrate_kbps,
            "rendition": e.rendition,
            "error_code": e.error,
        }
        for e in batch.events
    ]
    measures = await catalogue.playback.add(rows)
    request.app.state.metrics.observe_playback(measures)
    return JSONResponse(
        {
            "accepted": len(rows),
            "startups": len(measures.startup_s),
            "stalls": len(measures.stalls_s),
        },
        status_code=202,
    )
