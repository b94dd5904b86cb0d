"""The catalogue's records: immutable values the repositories read and write."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

__all__ = ["ApiKeyRecord", "Job", "QueueStats", "TrackRecord", "WorkerBeat"]


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def aware(value: dt.datetime | None) -> dt.datetime | None:
    """SQLite hands back naive datetimes for timezone-aware columns: mark them UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value


@dataclass(frozen=True, slots=True)
class TrackRecord:
    id: str
    name: str
    artists: list[dict[str, str]]
    isrc: str | None
    album: str | None
    genres: list[str]
    popularity: int | None
    audio_path: str | None
    audio_sha256: str | None

    def to_spotify(self) -> dict[str, Any]:
        """A Spotify-like track object (the fields backbeat knows)."""
        return {
            "id": self.id,
            "type": "track",
            "uri": f"spotify:track:{self.id}",
            "name": self.name,
            "artists": [
                {**a, "type": "artist", "uri": f"spotify:artist:{a['id']}"} for a in self.artists
            ],
            "album": {"name": self.album} if self.album else None,
            "external_ids": {"isrc": self.isrc} if self.isrc else {},
            "genres": self.genres,
            "popularity": self.popularity,
            "has_audio": self.audio_sha256 is not None,
        }

    @classmethod
    def from_row(cls, row: Any) -> TrackRecord:
        return cls(
            id=row.id,
            name=row.name,
            artists=json.loads(row.artists),
            isrc=row.isrc,
            album=row.album,
            genres=json.loads(row.genres),
            popularity=row.popularity,
            audio_path=row.audio_path,
            audio_sha256=row.audio_sha256,
        )


@dataclass(frozen=True, slots=True)
class Job:
    """One analysis job: a track's audio (by its SHA-256) and where the job stands."""

    track_id: str
    audio_sha256: str
    status: str  # queued | running | done | failed
    attempts: int
    error_code: str | None


@dataclass(frozen=True, slots=True)
class QueueStats:
    """The analysis queue at a glance: for ``/health`` and ``/metrics``."""

    queued: int
    running: int
    failed: int
    #: When the longest-waiting queued job entered the queue (a retry re-enters it).
    oldest_queued_at: dt.datetime | None

    @property
    def depth(self) -> int:
        return self.queued + self.running

    def oldest_age_s(self, at: dt.datetime | None = None) -> float | None:
        if self.oldest_queued_at is None:
            return None
        return max(0.0, ((at or now()) - self.oldest_queued_at).total_seconds())


@dataclass(frozen=True, slots=True)
class WorkerBeat:
    """The last heartbeat of an analysis worker process."""

    worker_id: str
    host: str
    pid: int
    mode: str  # embedded | database | redis
    started_at: dt.datetime
    seen_at: dt.datetime
    processed: int


@dataclass(frozen=True, slots=True)
class ApiKeyRecord:
    key_id: str
    name: str
    hash: str
    scopes: frozenset[str]
    created_at: dt.datetime
    revoked_at: dt.datetime | None

    @classmethod
    def from_row(cls, row: Any) -> ApiKeyRecord:
        return cls(
            key_id=row.key_id,
            name=row.name,
            hash=row.hash,
            scopes=frozenset(s for s in row.scopes.split(",") if s),
            created_at=aware(row.created_at) or now(),
            revoked_at=aware(row.revoked_at),
        )
