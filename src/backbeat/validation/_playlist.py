"""Playlist validation with a report of *every* problem, each with its path and code.

Rules (Web API reference, "Create Playlist" and "Add Items to Playlist"):
a playlist ``name`` is required; "to create a collaborative playlist you must
also set public to false"; at most 100 items may be added per request. Limits
the platform enforces without stating them in the Web API reference, and that
are settings here: name 100 characters, description 300 characters, 10,000
items per playlist. Descriptions are plain text: markup is reported, not stripped.
Items may be tracks or episodes, given as IDs, URIs or URLs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from backbeat.errors import BackbeatError, ValidationError
from backbeat.validation._spotify import SpotifyType, parse_spotify_ref

__all__ = [
    "ADD_BATCH_SIZE",
    "MAX_DESCRIPTION_LENGTH",
    "MAX_NAME_LENGTH",
    "MAX_PLAYLIST_ITEMS",
    "Problem",
    "ValidationReport",
    "add_batches",
    "validate_playlist",
]

MAX_NAME_LENGTH = 100
MAX_DESCRIPTION_LENGTH = 300
MAX_PLAYLIST_ITEMS = 10_000
ADD_BATCH_SIZE = 100
_TAG = re.compile(r"<\s*/?\s*[a-zA-Z!][^>]*>")
_PLAYABLE = frozenset({SpotifyType.TRACK, SpotifyType.EPISODE})


@dataclass(frozen=True, slots=True)
class Problem:
    """One problem: where (``tracks[3]``), what (a stable code) and the message."""

    path: str
    code: str
    message: str
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ValidationReport:
    """Every problem found; ``ok`` when there is none. ``value`` is the normalised input."""

    problems: tuple[Problem, ...]
    value: Mapping[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems

    def __bool__(self) -> bool:
        return self.ok

    def codes(self) -> list[str]:
        return [p.code for p in self.problems]

    def raise_for_problems(self) -> None:
        """Raise one ``ValidationError`` listing every problem (if any)."""
        if self.problems:
            raise ValidationError(
                "validation.report",
                details={
                    "problems": [
                        {"path": p.path, "code": p.code, "message": p.message}
                        for p in self.problems
                    ],
                    "count": len(self.problems),
                },
                message="{count} validation problem.",
                message_plural="{count} validation problems.",
            )


def _problem(path: str, error: BackbeatError) -> Problem:
    return Problem(path, error.code, error.message, dict(error.details))


def validate_playlist(
    playlist: Mapping[str, Any],
    *,
    max_items: int = MAX_PLAYLIST_ITEMS,
    max_name: int = MAX_NAME_LENGTH,
    max_description: int = MAX_DESCRIPTION_LENGTH,
) -> ValidationReport:
    """Check a playlist (``name``, ``description``, ``public``, ``collaborative``, ``tracks``)."""
    if not isinstance(playlist, Mapping):
        err = ValidationError("validation.playlist", message="A playlist must be a mapping.")
        return ValidationReport((_problem("", err),))
    problems: list[Problem] = []
    out: dict[str, Any] = {}

    name = playlist.get("name")
    if not isinstance(name, str) or not name.strip():
        problems.append(
            _problem(
                "name",
                ValidationError(
                    "validation.playlist_name_required", message="A playlist needs a name."
                ),
            )
        )
    elif len(name.strip()) > max_name:
        problems.append(
            _problem(
                "name",
                ValidationError(
                    "validation.playlist_name_length",
                    details={"max": max_name},
                    message="A playlist name may have at most {max} characters.",
                ),
            )
        )
    else:
        out["name"] = name.strip()

    description = playlist.get("description")
    if description is not None:
        if not isinstance(description, str):
            problems.append(
                _problem(
                    "description",
                    ValidationError(
                        "validation.playlist_description", message="The description must be text."
                    ),
                )
            )
        elif len(description) > max_description:
            problems.append(
                _problem(
                    "description",
                    ValidationError(
                        "validation.playlist_description_length",
                        details={"max": max_description},
                        message="A description may have at most {max} characters.",
                    ),
                )
            )
        elif _TAG.search(description):
            problems.append(
                _problem(
                    "description",
                    ValidationError(
                        "validation.playlist_description_html",
                        message="A description is plain text; it must not contain HTML.",
                    ),
                )
            )
        else:
            out["description"] = description

    public, collaborative = playlist.get("public"), playlist.get("collaborative", False)
    for key, flag in (("public", public), ("collaborative", collaborative)):
        if flag is not None and not isinstance(flag, bool):
            problems.append(
                _problem(
                    key,
                    ValidationError(
                        "validation.playlist_flag",
                        details={"field": key},
                        message="{field} must be true or false.",
                    ),
                )
            )
    if collaborative is True and public is True:
        problems.append(
            _problem(
                "collaborative",
                ValidationError(
                    "validation.playlist_collaborative_public",
                    message="A collaborative playlist cannot be public: set public to false.",
                ),
            )
        )
    out["public"], out["collaborative"] = public, collaborative

    tracks = playlist.get("tracks", [])
    if not isinstance(tracks, Sequence) or isinstance(tracks, str):
        problems.append(
            _problem(
                "tracks",
                ValidationError("validation.playlist_tracks", message="tracks must be a list."),
            )
        )
        tracks = []
    if len(tracks) > max_items:
        problems.append(
            _problem(
                "tracks",
                ValidationError(
                    "validation.playlist_too_long",
                    details={"max": max_items, "count": len(tracks)},
                    message="A playlist holds at most {max} items ({count} given).",
                ),
            )
        )
    uris: list[str] = []
    first_seen: dict[str, int] = {}
    for i, item in enumerate(tracks[: max_items + 1]):
        try:
            ref = parse_spotify_ref(item)
        except ValidationError as e:
            problems.append(_problem(f"tracks[{i}]", e))
            continue
        if ref.type not in _PLAYABLE:
            problems.append(
                _problem(
                    f"tracks[{i}]",
                    ValidationError(
                        "validation.playlist_item_type",
                        details={"type": ref.type.value},
                        message="A playlist holds tracks and episodes, not a {type}.",
                    ),
                )
            )
            continue
        if ref.uri in first_seen:
            problems.append(
                _problem(
                    f"tracks[{i}]",
                    ValidationError(
                        "validation.playlist_duplicate",
                        details={"position": i, "first": first_seen[ref.uri], "uri": ref.uri},
                        message="Item {position} repeats item {first} ({uri}).",
                    ),
                )
            )
        else:
            first_seen[ref.uri] = i
        uris.append(ref.uri)
    out["tracks"] = uris
    return ValidationReport(tuple(problems), out)


def add_batches(items: Iterable[str], size: int = ADD_BATCH_SIZE) -> Iterator[list[str]]:
    """URIs in request-sized batches (the Web API accepts 100 items per add request)."""
    batch: list[str] = []
    for item in items:
        batch.append(parse_spotify_ref(item).uri)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
