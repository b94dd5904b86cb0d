"""The catalogue: tracks with artists, genres, popularity and (optionally) audio features.

Audio-feature names and ranges are Spotify's (``backbeat.validation.AUDIO_FEATURE_RANGES``);
a track may lack some or all of them (not analysed yet), and content models
treat a missing value as the catalogue mean.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from backbeat.errors import ValidationError
from backbeat.validation import validate_audio_features

__all__ = ["Catalogue", "Track"]


@dataclass(frozen=True)
class Track:
    id: str
    artists: tuple[str, ...] = ()
    genres: tuple[str, ...] = ()
    popularity: float = 0.0  # 0..100, as in Spotify's track object
    features: Mapping[str, float] = field(default_factory=dict)


class Catalogue:
    """Tracks by id, with artist and genre lookups."""

    def __init__(self, tracks: Iterable[Track]) -> None:
        self.tracks: dict[str, Track] = {}
        for t in tracks:
            if not isinstance(t, Track) or not t.id:
                raise ValidationError(
                    "validation.catalogue_track",
                    message="Catalogue entries must be Tracks with an id.",
                )
            if t.features:
                validate_audio_features(t.features)
            self.tracks[t.id] = t
        self.by_artist: dict[str, list[str]] = {}
        self.by_genre: dict[str, list[str]] = {}
        for t in self.tracks.values():
            for a in t.artists:
                self.by_artist.setdefault(a, []).append(t.id)
            for g in t.genres:
                self.by_genre.setdefault(g, []).append(t.id)

    def __len__(self) -> int:
        return len(self.tracks)

    def __contains__(self, track_id: object) -> bool:
        return track_id in self.tracks

    def __getitem__(self, track_id: str) -> Track:
        return self.tracks[track_id]

    @property
    def ids(self) -> list[str]:
        return list(self.tracks)

    def attribute(self, track_id: str, name: str) -> Any:
        """A filterable attribute: ``popularity`` or an audio feature (None if unknown)."""
        t = self.tracks[track_id]
        if name == "popularity":
            return t.popularity
        return t.features.get(name)
