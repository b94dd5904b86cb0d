from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backbeat import validation
from backbeat.errors import ValidationError
from backbeat.validation import SpotifyRef, SpotifyType, is_spotify_id, parse_spotify_ref

TRACK = "4iV5W9uYEdYUVa79Axb7Rh"
PLAYLIST = "37i9dQZF1DX8Uebhn9wzrS"


@pytest.mark.parametrize(
    ("given_", "kind", "ident"),
    [
        (TRACK, "track", TRACK),
        (f"  {TRACK}\n", "track", TRACK),
        (f"spotify:track:{TRACK}", "track", TRACK),
        (f"SPOTIFY:TRACK:{TRACK}", "track", TRACK),
        (f"spotify:album:{TRACK}", "album", TRACK),
        (f"spotify:artist:{TRACK}", "artist", TRACK),
        (f"spotify:playlist:{PLAYLIST}", "playlist", PLAYLIST),
        (f"spotify:show:{TRACK}", "show", TRACK),
        (f"spotify:episode:{TRACK}", "episode", TRACK),
        (f"spotify:audiobook:{TRACK}", "audiobook", TRACK),
        (f"spotify:chapter:{TRACK}", "chapter", TRACK),
        ("spotify:user:wizzler", "user", "wizzler"),
        (f"spotify:user:wizzler:playlist:{PLAYLIST}", "playlist", PLAYLIST),
        (f"https://open.spotify.com/track/{TRACK}", "track", TRACK),
        (f"http://open.spotify.com/track/{TRACK}", "track", TRACK),
        (f"https://open.spotify.com/track/{TRACK}?si=4e2c0b1f&nd=1", "track", TRACK),
        (f"https://open.spotify.com/intl-fr/track/{TRACK}", "track", TRACK),
        (f"https://open.spotify.com/intl-pt-BR/album/{TRACK}#x", "album", TRACK),
        (
            f"https://open.spotify.com/embed/playlist/{PLAYLIST}?utm_source=generator",
            "playlist",
            PLAYLIST,
        ),
        (f"https://play.spotify.com/artist/{TRACK}", "artist", TRACK),
        (f"open.spotify.com/episode/{TRACK}", "episode", TRACK),
        (f"https://open.spotify.com/user/wizzler/playlist/{PLAYLIST}", "playlist", PLAYLIST),
        ("https://open.spotify.com/user/wizzler", "user", "wizzler"),
    ],
)
def test_real_world_references(given_: str, kind: str, ident: str) -> None:
    ref = parse_spotify_ref(given_)
    assert (ref.type, ref.id) == (kind, ident)
    assert isinstance(ref.type, str)


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "   ",
        TRACK[:-1],
        TRACK + "x",
        TRACK[:-1] + "!",
        f"spotify:track:{TRACK[:-1]}",
        f"spotify:song:{TRACK}",
        f"spotify:track:{TRACK}:extra",
        "spotify:track:",
        f"https://example.com/track/{TRACK}",
        f"https://open.spotify.com/track/{TRACK[:-1]}",
        f"ftp://open.spotify.com/track/{TRACK}",
        "https://open.spotify.com/",
        "spotify:user:",
        "spotify:user:" + "a" * 65,
        "https://[::1",
        "x" * 5000,
        f"spotify:track:{TRACK}\x00",
    ],
)
def test_invalid_references_raise_validation_error(bad: str) -> None:
    with pytest.raises(ValidationError) as info:
        parse_spotify_ref(bad)
    assert info.value.code.startswith("validation.")


@pytest.mark.parametrize("bad", [None, 42, b"4iV5W9uYEdYUVa79Axb7Rh", ["x"]])
def test_non_strings(bad: object) -> None:
    with pytest.raises(ValidationError):
        parse_spotify_ref(bad)


def test_expected_type_and_bare_id_typing() -> None:
    assert parse_spotify_ref(TRACK, expected="album").type == SpotifyType.ALBUM
    assert parse_spotify_ref(TRACK, default_type="artist").type == "artist"
    with pytest.raises(ValidationError) as info:
        parse_spotify_ref(f"spotify:album:{TRACK}", expected="track")
    assert info.value.code == "validation.spotify_type"


def test_conversions() -> None:
    ref = parse_spotify_ref(f"https://open.spotify.com/intl-de/track/{TRACK}?si=1")
    assert ref.uri == f"spotify:track:{TRACK}"
    assert ref.url == f"https://open.spotify.com/track/{TRACK}"
    assert str(ref) == ref.uri
    assert is_spotify_id(TRACK)
    assert not is_spotify_id(TRACK + "a")
    assert not is_spotify_id(None)


base62 = st.text(
    alphabet="0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
    min_size=22,
    max_size=22,
)
kinds = st.sampled_from([t for t in SpotifyType if t is not SpotifyType.USER])


@given(kinds, base62)
def test_id_uri_url_round_trips(kind: SpotifyType, ident: str) -> None:
    ref = SpotifyRef(kind, ident)
    assert parse_spotify_ref(ref.uri) == ref
    assert parse_spotify_ref(ref.url) == ref
    assert parse_spotify_ref(ident, expected=kind) == ref


@given(st.text(max_size=300))
def test_arbitrary_text_never_raises_anything_else(text: str) -> None:
    for candidate in (text, f"spotify:{text}", f"https://open.spotify.com/{text}"):
        with contextlib.suppress(ValidationError):
            parse_spotify_ref(candidate)


def test_module_face() -> None:
    assert validation.parse_spotify_ref is parse_spotify_ref
