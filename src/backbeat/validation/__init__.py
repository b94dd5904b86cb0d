"""Spotify-aware validation: refs (ID/URI/URL), playlists, ISRC/UPC/ISNI/ISWC, and more.

>>> from backbeat import validation
>>> ref = validation.parse_spotify_ref("https://open.spotify.com/intl-fr/track/4iV5W9uYEdYUVa79Axb7Rh?si=x")
>>> ref.type, ref.id, ref.uri
('track', '4iV5W9uYEdYUVa79Axb7Rh', 'spotify:track:4iV5W9uYEdYUVa79Axb7Rh')

Every validator raises :class:`~backbeat.errors.ValidationError` (stable
``validation.*`` codes) and nothing else, whatever the input.
"""

from backbeat.validation._facade import AsyncValidator, SpotifyValidator
from backbeat.validation._identifiers import (
    ISRCParts,
    gs1_check_digit,
    isni_check_char,
    iswc_check_digit,
    validate_isni,
    validate_isrc,
    validate_iswc,
    validate_upc,
)
from backbeat.validation._places import (
    AUDIO_FEATURE_RANGES,
    is_country_code,
    validate_audio_features,
    validate_country,
    validate_duration_ms,
    validate_email,
    validate_locale,
)
from backbeat.validation._playlist import (
    ADD_BATCH_SIZE,
    MAX_DESCRIPTION_LENGTH,
    MAX_NAME_LENGTH,
    MAX_PLAYLIST_ITEMS,
    Problem,
    ValidationReport,
    add_batches,
    validate_playlist,
)
from backbeat.validation._problems import (
    field_name,
    invalid_input,
    number_expected,
    parse_json_model,
)
from backbeat.validation._spotify import SpotifyRef, SpotifyType, is_spotify_id, parse_spotify_ref
from backbeat.validation._types import (
    ISNI,
    ISRC,
    ISWC,
    UPC,
    CountryCode,
    Email,
    LocaleTag,
    SpotifyAlbumId,
    SpotifyArtistId,
    SpotifyPlaylistId,
    SpotifyTrackId,
    SpotifyURI,
)

__all__ = [
    "ADD_BATCH_SIZE",
    "AUDIO_FEATURE_RANGES",
    "ISNI",
    "ISRC",
    "ISWC",
    "MAX_DESCRIPTION_LENGTH",
    "MAX_NAME_LENGTH",
    "MAX_PLAYLIST_ITEMS",
    "UPC",
    "AsyncValidator",
    "CountryCode",
    "Email",
    "ISRCParts",
    "LocaleTag",
    "Problem",
    "SpotifyAlbumId",
    "SpotifyArtistId",
    "SpotifyPlaylistId",
    "SpotifyRef",
    "SpotifyTrackId",
    "SpotifyType",
    "SpotifyURI",
    "SpotifyValidator",
    "ValidationReport",
    "add_batches",
    "field_name",
    "gs1_check_digit",
    "invalid_input",
    "is_country_code",
    "is_spotify_id",
    "isni_check_char",
    "iswc_check_digit",
    "number_expected",
    "parse_json_model",
    "parse_spotify_ref",
    "validate_audio_features",
    "validate_country",
    "validate_duration_ms",
    "validate_email",
    "validate_isni",
    "validate_isrc",
    "validate_iswc",
    "validate_locale",
    "validate_playlist",
    "validate_upc",
]
