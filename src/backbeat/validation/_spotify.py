"""Spotify identifiers: IDs, URIs and open.spotify.com URLs, and conversion between them.

From the Web API documentation ("Spotify URIs and IDs",
developer.spotify.com/documentation/web-api/concepts/spotify-uris-ids):

- a **Spotify ID** is "the base-62 identifier found at the end of the Spotify URI";
  it "does not clearly identify the type of resource". IDs of catalogue items
  are 22 characters of ``[0-9A-Za-z]`` (128 bits in base 62);
- a **Spotify URI** is ``spotify:<type>:<id>``, e.g. ``spotify:track:6rqhFgbbKwnb9MLmUQDhG6``;
- a **Spotify user ID** is "the unique string identifying the Spotify user"
  (``wizzler``): not base 62, so user refs accept ``[A-Za-z0-9._-]`` up to 64;
- a **Spotify URL** opens the resource: ``https://open.spotify.com/track/<id>``.

Accepted URL variants: ``http``/``https``, ``open.spotify.com`` and
``play.spotify.com``, an ``intl-xx/`` locale segment, ``embed/``, query strings
and fragments, and the legacy ``user/<name>/playlist/<id>`` form (also as
``spotify:user:<name>:playlist:<id>``), which is a playlist reference.
Parsing never raises anything but :class:`~backbeat.errors.ValidationError`,
whatever the input (tested with Hypothesis on arbitrary text).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from backbeat.errors import ValidationError

__all__ = ["SpotifyRef", "SpotifyType", "is_spotify_id", "parse_spotify_ref"]

MAX_INPUT = 2048
_ID = re.compile(r"[0-9A-Za-z]{22}")
_USER = re.compile(r"[A-Za-z0-9._-]{1,64}")
_HOSTS = frozenset({"open.spotify.com", "play.spotify.com"})
_INTL = re.compile(r"intl-[a-z]{2}(?:[-_][a-z0-9]{2,4})?", re.I)


class SpotifyType(enum.StrEnum):
    TRACK = "track"
    ALBUM = "album"
    ARTIST = "artist"
    PLAYLIST = "playlist"
    SHOW = "show"
    EPISODE = "episode"
    AUDIOBOOK = "audiobook"
    CHAPTER = "chapter"
    USER = "user"


_TYPES = {t.value: t for t in SpotifyType}


@dataclass(frozen=True, slots=True)
class SpotifyRef:
    """A typed Spotify reference; ``str(ref)`` is its URI."""

    type: SpotifyType
    id: str

    @property
    def uri(self) -> str:
        return f"spotify:{self.type.value}:{self.id}"

    @property
    def url(self) -> str:
        return f"https://open.spotify.com/{self.type.value}/{self.id}"

    def __str__(self) -> str:
        return self.uri


def is_spotify_id(value: object) -> bool:
    """Whether ``value`` is a 22-character base-62 Spotify ID."""
    return isinstance(value, str) and _ID.fullmatch(value) is not None


def _invalid(value: object) -> ValidationError:
    shown = value[:80] if isinstance(value, str) else type(value).__name__
    return ValidationError(
        "validation.spotify_ref",
        details={"value": shown},
        message="{value!r} is not a Spotify ID, URI or open.spotify.com URL.",
    )


def _make(kind: str, ident: str, raw: str) -> SpotifyRef:
    t = _TYPES.get(kind.lower())
    if t is None:
        raise ValidationError(
            "validation.spotify_type_unknown",
            details={"value": raw[:80], "kind": kind[:20]},
            message="{value!r} names an unknown Spotify type {kind!r}.",
        )
    if t is SpotifyType.USER:
        if _USER.fullmatch(ident) is None:
            raise ValidationError(
                "validation.spotify_user_id",
                details={"value": raw[:80]},
                message="{value!r}: a Spotify user ID has 1 to 64 letters, digits, . _ or -.",
            )
    elif _ID.fullmatch(ident) is None:
        raise ValidationError(
            "validation.spotify_id",
            details={"value": raw[:80]},
            message="{value!r}: a Spotify ID has 22 letters and digits (base 62).",
        )
    return SpotifyRef(t, ident)


def _from_parts(parts: list[str], raw: str) -> SpotifyRef:
    # [type, id] or the legacy [user, name, playlist, id]
    if len(parts) == 4 and parts[0].lower() == "user" and parts[2].lower() == "playlist":
        return _make("playlist", parts[3], raw)
    if len(parts) == 2:
        return _make(parts[0], parts[1], raw)
    raise _invalid(raw)


def parse_spotify_ref(
    value: object,
    *,
    expected: SpotifyType | str | None = None,
    default_type: SpotifyType | str = SpotifyType.TRACK,
) -> SpotifyRef:
    """A :class:`SpotifyRef` from an ID, URI or URL; ``ValidationError`` otherwise.

    A bare ID carries no type: it is read as ``expected`` if given, else as
    ``default_type`` (``track``: what feature and recommendation endpoints take).
    With ``expected``, a reference of another type is refused
    (``validation.spotify_type``).
    """
    if not isinstance(value, str):
        raise _invalid(value)
    raw = value.strip()
    if not raw or len(raw) > MAX_INPUT:
        raise _invalid(value)
    if _ID.fullmatch(raw):
        ref = SpotifyRef(SpotifyType(expected or default_type), raw)
    elif raw[:8].lower() == "spotify:":
        ref = _from_parts(raw.split(":")[1:], raw)
    elif "://" in raw or raw.lower().startswith(("open.spotify.com/", "play.spotify.com/")):
        ref = _parse_url(raw if "://" in raw else "https://" + raw)
    else:
        raise _invalid(raw)
    if expected is not None and ref.type != SpotifyType(expected):
        raise ValidationError(
            "validation.spotify_type",
            details={
                "value": raw[:80],
                "expected": str(SpotifyType(expected)),
                "actual": ref.type.value,
            },
            message="{value!r} is a {actual}, not a {expected}.",
        )
    return ref


def _parse_url(raw: str) -> SpotifyRef:
    try:
        url = urlsplit(raw)
        host = (url.hostname or "").lower()
    except ValueError:
        raise _invalid(raw) from None
    if url.scheme.lower() not in ("http", "https") or host not in _HOSTS:
        raise _invalid(raw)
    parts = [p for p in url.path.split("/") if p]
    if parts and _INTL.fullmatch(parts[0]):
        parts = parts[1:]
    if parts and parts[0].lower() == "embed":
        parts = parts[1:]
    return _from_parts(parts, raw)
