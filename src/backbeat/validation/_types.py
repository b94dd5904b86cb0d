"""Pydantic v2 types, so FastAPI models validate Spotify refs and identifiers for free.

Each type accepts what the matching validator accepts and stores its normalised
form: ``SpotifyTrackId`` takes an ID, URI or URL of a track and holds the bare
ID; ``ISRC`` holds the 12-character code; and so on.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from pydantic import BeforeValidator

from backbeat.errors import BackbeatError
from backbeat.validation._identifiers import (
    validate_isni,
    validate_isrc,
    validate_iswc,
    validate_upc,
)
from backbeat.validation._places import validate_country, validate_email, validate_locale
from backbeat.validation._spotify import SpotifyType, parse_spotify_ref

__all__ = [
    "ISNI",
    "ISRC",
    "ISWC",
    "UPC",
    "CountryCode",
    "Email",
    "LocaleTag",
    "SpotifyAlbumId",
    "SpotifyArtistId",
    "SpotifyPlaylistId",
    "SpotifyTrackId",
    "SpotifyURI",
]


def _pydantic(fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        try:
            return fn(value)
        except BackbeatError as e:
            raise ValueError(e.message) from None  # pydantic reports it with the field's path

    return check


def _id_of(kind: SpotifyType) -> Callable[[Any], str]:
    return lambda v: parse_spotify_ref(v, expected=kind).id


SpotifyTrackId = Annotated[str, BeforeValidator(_pydantic(_id_of(SpotifyType.TRACK)))]
SpotifyAlbumId = Annotated[str, BeforeValidator(_pydantic(_id_of(SpotifyType.ALBUM)))]
SpotifyArtistId = Annotated[str, BeforeValidator(_pydantic(_id_of(SpotifyType.ARTIST)))]
SpotifyPlaylistId = Annotated[str, BeforeValidator(_pydantic(_id_of(SpotifyType.PLAYLIST)))]
SpotifyURI = Annotated[str, BeforeValidator(_pydantic(lambda v: parse_spotify_ref(v).uri))]
ISRC = Annotated[str, BeforeValidator(_pydantic(lambda v: validate_isrc(v).code))]
UPC = Annotated[str, BeforeValidator(_pydantic(validate_upc))]
ISNI = Annotated[str, BeforeValidator(_pydantic(validate_isni))]
ISWC = Annotated[str, BeforeValidator(_pydantic(validate_iswc))]
CountryCode = Annotated[str, BeforeValidator(_pydantic(validate_country))]
LocaleTag = Annotated[str, BeforeValidator(_pydantic(validate_locale))]
Email = Annotated[str, BeforeValidator(_pydantic(validate_email))]
