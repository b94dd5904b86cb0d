"""Playback telemetry: players' events stored by session, and what they measure.

A session is the player's random ID for one playback of one track. From the events the
repository derives, per batch, what the metrics need: the start-up time (``start`` to
``first_audio``), each stall's duration (``stall_start`` to ``stall_end``), the seconds
played between events (position advance) and the bitrate of each switch. Pairs may span
batches: the earlier half is read back from the table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from backbeat.storage import playback_events

__all__ = ["EVENT_TYPES", "PlaybackMeasures", "PlaybackRepository"]

EVENT_TYPES = (
    "start",
    "first_audio",
    "stall_start",
    "stall_end",
    "switch",
    "progress",
    "error",
    "end",
)


@dataclass
class PlaybackMeasures:
    startup_s: list[float] = field(default_factory=list)
    stalls_s: list[float] = field(default_factory=list)
    played_s: float = 0.0
    bitrates_kbps: list[float] = field(default_factory=list)
    types: dict[str, int] = field(default_factory=dict)


class PlaybackRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def add(self, rows: list[dict[str, Any]]) -> PlaybackMeasures:
        """Store ``rows`` (sorted by time within each session) and measure them."""
        rows = sorted(rows, key=lambda r: (r["session_id"], r["at"]))
        measures = PlaybackMeasures()
        p = playback_events.c
        async with self.engine.begin() as conn:
            sessions = sorted({r["session_id"] for r in rows})
            earlier: dict[str, list[Any]] = {s: [] for s in sessions}
            found = await conn.execute(
                sa.select(p.session_id, p.type, p.at, p.position_s)
                .where(p.session_id.in_(sessions))
                .order_by(p.session_id, p.at)
            )
            for stored in found:
                earlier[stored.session_id].append(stored)
            await conn.execute(playback_events.insert(), rows)
        for session in sessions:
            history = [(r.type, r.at, r.position_s) for r in earlier[session]]
            started = next((at for kind, at, _ in history if kind == "start"), None)
            first_audio = any(kind == "first_audio" for kind, _, _ in history)
            stall = next(
                (at for kind, at, _ in reversed(history) if kind in ("stall_start", "stall_end")),
                None,
            )
            open_stall = bool(history) and any(kind == "stall_start" for kind, _, _ in history[-1:])
            stall_at = stall if open_stall else None
            position = next((pos for _, _, pos in reversed(history) if pos is not None), None)
            for event in (r for r in rows if r["session_id"] == session):
                kind, at = event["type"], event["at"]
                measures.types[kind] = measures.types.get(kind, 0) + 1
                if kind == "start" and started is None:
                    started = at
                elif kind == "first_audio" and started is not None and not first_audio:
                    measures.startup_s.append(max(0.0, at - started))
                    first_audio = True
                elif kind == "stall_start":
                    stall_at = at
                elif kind == "stall_end" and stall_at is not None:
                    measures.stalls_s.append(max(0.0, at - stall_at))
                    stall_at = None
                if event.get("bitrate_kbps") is not None and kind in ("switch", "first_audio"):
                    measures.bitrates_kbps.append(float(event["bitrate_kbps"]))
                pos = event.get("position_s")
                if pos is not None:
                    if position is not None and pos > position:
                        measures.played_s += pos - position
                    position = pos
        return measures
