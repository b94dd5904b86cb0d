"""The seed's ``SpotifyValidator`` / ``AsyncValidator``: async methods over the validators.

Validation is CPU work measured in microseconds, so these methods run inline;
they are ``async`` because the seed's callers ``await`` them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from backbeat.errors import ValidationError
from backbeat.validation._identifiers import validate_isrc, validate_upc
from backbeat.validation._playlist import ValidationReport, validate_playlist
from backbeat.validation._spotify import SpotifyRef, SpotifyType, parse_spotify_ref

__all__ = ["AsyncValidator", "SpotifyValidator"]


class SpotifyValidator:
    """``await SpotifyValidator().validate_track_id("4iV5...")`` -> ``True``/``False``."""

    async def validate_track_id(self, value: str) -> bool:
        return await self._ok(value, SpotifyType.TRACK)

    async def validate_album_id(self, value: str) -> bool:
        return await self._ok(value, SpotifyType.ALBUM)

    async def validate_artist_id(self, value: str) -> bool:
        return await self._ok(value, SpotifyType.ARTIST)

    async def validate_playlist_id(self, value: str) -> bool:
        return await self._ok(value, SpotifyType.PLAYLIST)

    async def _ok(self, value: str, kind: SpotifyType) -> bool:
        try:
            parse_spotify_ref(value, expected=kind)
        except ValidationError:
            return False
        return True

    async def parse(self, value: str) -> SpotifyRef:
        return parse_spotify_ref(value)

    async def validate_playlist(self, playlist: Mapping[str, Any]) -> ValidationReport:
        """Every problem of the playlist (see :func:`validate_playlist`)."""
        return validate_playlist(playlist)

    async def validate_isrc(self, value: str) -> bool:
        try:
            validate_isrc(value)
        except ValidationError:
            return False
        return True

    async def validate_upc(self, value: str) -> bool:
        try:
            validate_upc(value)
        except ValidationError:
            return False
        return True


#: The seed's other name for the same façade.
AsyncValidator = SpotifyValidator
