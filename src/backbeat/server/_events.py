"""``POST /v1/events``: listening events in batches, stored for recommendation training.

``backbeat recommend train --from-database`` trains on them.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, field_validator

from backbeat.server._context import record_write
from backbeat.server._deps import CatalogueDep, ServicesDep, Writer
from backbeat.validation import parse_spotify_ref

__all__ = ["EventIn", "router"]

router = APIRouter(prefix="/v1", tags=["events"])
MAX_BATCH = 1000


class EventIn(BaseModel):
    user: Annotated[str, Field(min_length=1, max_length=200, examples=["user-42"])]
    track: Annotated[str, Field(description="Spotify track ID, URI or URL")]
    kind: Annotated[str, Field(pattern="^(play|skip|like|save|playlist_add)$")] = "play"
    timestamp: dt.datetime
    ms_played: Annotated[int | None, Field(ge=0, le=86_400_000)] = None

    @field_validator("track")
    @classmethod
    def _track(cls, value: str) -> str:
        return parse_spotify_ref(value, expected="track").id


class EventBatch(BaseModel):
    events: Annotated[list[EventIn], Field(min_length=1, max_length=MAX_BATCH)]

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "events": [
                        {
                            "user": "user-42",
                            "track": "spotify:track:4uLU6hMCjMI75M1A2tKUQC",
                            "kind": "play",
                            "timestamp": "2026-11-24T20:15:00Z",
                            "ms_played": 183000,
                        }
                    ]
                }
            ]
        }
    }


@router.post(
    "/events",
    status_code=202,
    summary=f"Record up to {MAX_BATCH} listening events",
    responses={202: {"description": "Stored; they feed the next training run"}},
)
async def post_events(
    request: Request,
    batch: EventBatch,
    catalogue: CatalogueDep,
    services: ServicesDep,
    _: Writer,
) -> JSONResponse:
    rows: list[dict[str, Any]] = [
        {
            "user_id": e.user,
            "track_id": e.track,
            "kind": e.kind,
            "timestamp": (
                e.timestamp if e.timestamp.tzinfo else e.timestamp.replace(tzinfo=dt.UTC)
            ).timestamp(),
            "ms_played": e.ms_played,
        }
        for e in batch.events
    ]
    # events of erased users are dropped, even when they race the erasure
    digest = services.toolkit.compliance.suppression_digest
    accepted = await catalogue.events.add(rows, digest=digest)
    users = len({row["user_id"] for row in rows})
    await record_write(request, "events.ingest", "events", {"count": accepted, "users": users})
    return JSONResponse({"accepted": accepted}, status_code=202)
