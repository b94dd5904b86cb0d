"""``Catalogue``: the catalogue service on one database engine and one media store.

The repositories by aggregate (``tracks`` with their analyses, ``jobs`` with the
workers' heartbeats, ``api_keys``, ``events``, ``credentials``), the media store,
and the operations that span them: resolving what a caller calls a track, and
registering a track with its audio.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncEngine

from backbeat.catalogue._accounts import ApiKeyRepository, CredentialRepository
from backbeat.catalogue._billing import BillingRepository
from backbeat.catalogue._jobs import JobRepository
from backbeat.catalogue._listening import EventRepository, WeeklyPlaylistRepository
from backbeat.catalogue._media import MediaStore, StoredMedia
from backbeat.catalogue._metadata import TrackMetadata
from backbeat.catalogue._playback import PlaybackRepository
from backbeat.catalogue._tracks import TrackRepository
from backbeat.catalogue._training import TrainingJobRepository
from backbeat.errors import NotFound
from backbeat.validation import parse_spotify_ref, validate_isrc

if TYPE_CHECKING:
    from backbeat.settings import Settings

__all__ = ["Catalogue"]

_ISRC_SHAPE = re.compile(r"^[A-Za-z]{2}-?[A-Za-z0-9]{3}-?\d{2}-?\d{5}$")


class Catalogue:
    """Every repository of the catalogue, on ``engine``, and its ``media`` store."""

    def __init__(self, engine: AsyncEngine, media: MediaStore) -> None:
        self.engine = engine
        self.media = media
        self.tracks = TrackRepository(engine)
        self.jobs = JobRepository(engine)
        self.api_keys = ApiKeyRepository(engine)
        self.events = EventRepository(engine)
        self.credentials = CredentialRepository(engine)
        self.playlists = WeeklyPlaylistRepository(engine)
        self.training = TrainingJobRepository(engine)
        self.billing = BillingRepository(engine)
        self.playback = PlaybackRepository(engine)

    @classmethod
    def from_settings(cls, settings: Settings, engine: AsyncEngine) -> Catalogue:
        """Media under ``<BACKBEAT_DATA_DIR>/media``, bounded by ``BACKBEAT_MAX_UPLOAD_MB``."""
        media = MediaStore(
            settings.data_dir / "media", max_bytes=settings.max_upload_mb * 1024 * 1024
        )
        return cls(engine, media)

    async def resolve_track_id(self, value: str) -> str:
        """A Spotify ID, URI or URL, or an ISRC of a registered track -> the track ID."""
        if _ISRC_SHAPE.match(value.strip()):
            isrc = validate_isrc(value).code
            found = await self.tracks.id_for_isrc(isrc)
            if found is None:
                raise NotFound(details={"id": value})
            return found
        return parse_spotify_ref(value, expected="track").id

    async def register(self, metadata: TrackMetadata, audio: StoredMedia | None = None) -> bool:
        """Insert or update a track (and its stored audio); ``True`` when analysis is due."""
        record = metadata.to_record(audio.path if audio else None, audio.sha256 if audio else None)
        return await self.tracks.upsert(record)
