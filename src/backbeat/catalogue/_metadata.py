"""What a track is registered with: the ``metadata`` of ``POST /v1/tracks`` and of each
line of a ``backbeat import`` manifest (one schema for both)."""

from __future__ import annotations

from pydantic import BaseModel, Field, field_validator

from backbeat.catalogue._records import TrackRecord
from backbeat.validation import parse_spotify_ref, validate_isrc

__all__ = ["ArtistMetadata", "TrackMetadata"]


class ArtistMetadata(BaseModel):
    id: str
    name: str = Field(min_length=1, max_length=500)

    @field_validator("id")
    @classmethod
    def _artist_id(cls, value: str) -> str:
        return parse_spotify_ref(value, expected="artist").id


class TrackMetadata(BaseModel):
    """A track's metadata: Spotify ID (or URI/URL), name, artists, optional ISRC etc."""

    id: str = Field(description="Spotify track ID, URI or URL", examples=["4uLU6hMCjMI75M1A2tKUQC"])
    name: str = Field(min_length=1, max_length=500)
    artists: list[ArtistMetadata] = Field(min_length=1, max_length=50)
    isrc: str | None = Field(None, examples=["USRC17607839"])
    album: str | None = Field(None, max_length=500)
    genres: list[str] = Field(default_factory=list, max_length=50)
    popularity: int | None = Field(None, ge=0, le=100)

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "id": "4uLU6hMCjMI75M1A2tKUQC",
                    "name": "Song",
                    "artists": [{"id": "0OdUWJ0sBjDrqHygGUXeCF", "name": "Band"}],
                    "isrc": "USRC17607839",
                    "genres": ["rock"],
                    "popularity": 40,
                }
            ]
        }
    }

    @field_validator("id")
    @classmethod
    def _track_id(cls, value: str) -> str:
        return parse_spotify_ref(value, expected="track").id

    @field_validator("isrc")
    @classmethod
    def _isrc(cls, value: str | None) -> str | None:
        return None if value is None else validate_isrc(value).code

    def to_record(self, audio_path: str | None, audio_sha256: str | None) -> TrackRecord:
        return TrackRecord(
            id=self.id,
            name=self.name,
            artists=[a.model_dump() for a in self.artists],
            isrc=self.isrc,
            album=self.album,
            genres=self.genres,
            popularity=self.popularity,
            audio_path=audio_path,
            audio_sha256=audio_sha256,
        )
