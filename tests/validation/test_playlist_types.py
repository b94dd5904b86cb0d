from __future__ import annotations

import pytest
from pydantic import BaseModel
from pydantic import ValidationError as PydanticError

from backbeat.errors import ValidationError
from backbeat.validation import (
    ISRC,
    UPC,
    AsyncValidator,
    CountryCode,
    SpotifyTrackId,
    SpotifyURI,
    SpotifyValidator,
    add_batches,
    validate_playlist,
)

T1, T2 = "4iV5W9uYEdYUVa79Axb7Rh", "6rqhFgbbKwnb9MLmUQDhG6"


def test_a_good_playlist_is_ok_and_normalised() -> None:
    report = validate_playlist(
        {
            "name": "  Ma Playlist ",
            "tracks": [T1, f"https://open.spotify.com/track/{T2}"],
            "public": False,
            "collaborative": True,
            "description": "Summer & sun",
        }
    )
    assert report.ok
    assert report.value["name"] == "Ma Playlist"
    assert report.value["tracks"] == [f"spotify:track:{T1}", f"spotify:track:{T2}"]


def test_every_problem_is_reported_with_its_path() -> None:
    report = validate_playlist(
        {
            "name": "x" * 101,
            "description": "<script>alert(1)</script>",
            "public": True,
            "collaborative": True,
            "tracks": [T1, "nope", f"spotify:track:{T1}", f"spotify:artist:{T2}", T2, T1],
        }
    )
    assert not report.ok
    by_path = {(p.path, p.code) for p in report.problems}
    assert by_path == {
        ("name", "validation.playlist_name_length"),
        ("description", "validation.playlist_description_html"),
        ("collaborative", "validation.playlist_collaborative_public"),
        ("tracks[1]", "validation.spotify_ref"),
        ("tracks[2]", "validation.playlist_duplicate"),
        ("tracks[3]", "validation.playlist_item_type"),
        ("tracks[5]", "validation.playlist_duplicate"),
    }
    dup = next(p for p in report.problems if p.path == "tracks[5]")
    assert dup.details["first"] == 0
    assert all(p.message for p in report.problems)
    with pytest.raises(ValidationError) as info:
        report.raise_for_problems()
    assert info.value.details["count"] == 7


def test_size_limits_and_name_required() -> None:
    report = validate_playlist({"tracks": [T1] * 3}, max_items=2)
    assert "validation.playlist_name_required" in report.codes()
    assert "validation.playlist_too_long" in report.codes()
    assert validate_playlist("not a mapping").codes() == ["validation.playlist"]  # type: ignore[arg-type]


def test_add_batches_respect_the_100_item_limit() -> None:
    batches = list(add_batches([T1] * 250))
    assert [len(b) for b in batches] == [100, 100, 50]
    assert batches[0][0] == f"spotify:track:{T1}"


class TrackIn(BaseModel):
    id: SpotifyTrackId
    uri: SpotifyURI
    isrc: ISRC
    upc: UPC
    market: CountryCode


def test_pydantic_types_validate_and_normalise() -> None:
    m = TrackIn(
        id=f"spotify:track:{T1}",
        uri=f"https://open.spotify.com/album/{T2}",
        isrc="us-rc1-76-07839",
        upc="036000291452",
        market="se",
    )
    assert (m.id, m.uri, m.isrc, m.market) == (T1, f"spotify:album:{T2}", "USRC17607839", "SE")
    with pytest.raises(PydanticError) as info:
        TrackIn(id=f"spotify:album:{T1}", uri="x", isrc="bad", upc="036000291453", market="EU")
    assert {e["loc"][0] for e in info.value.errors()} == {"id", "uri", "isrc", "upc", "market"}


@pytest.mark.anyio
async def test_seed_facade() -> None:
    v = SpotifyValidator()
    assert await v.validate_track_id(T1) is True
    assert await v.validate_track_id("track1") is False
    assert await v.validate_track_id(f"spotify:album:{T1}") is False
    report = await AsyncValidator().validate_playlist(
        {"name": "Ma Playlist", "tracks": ["track1", "track2"], "public": False}
    )
    assert [p.path for p in report.problems] == ["tracks[0]", "tracks[1]"]
