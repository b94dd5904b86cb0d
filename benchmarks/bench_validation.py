"""Validation throughput: Spotify refs and ISRCs per second, and a 10,000-track playlist model.

No peer library is named for this benchmark; the figures are for capacity
planning (how many refs a request handler can check per millisecond).
"""

from __future__ import annotations

import random
import string

from pydantic import BaseModel

from _table import best_per_call, print_table
from backbeat.validation import SpotifyTrackId, parse_spotify_ref, validate_isrc, validate_playlist

ALPHABET = string.digits + string.ascii_letters
rng = random.Random(7)
IDS = ["".join(rng.choice(ALPHABET) for _ in range(22)) for _ in range(10_000)]
ISRCS = [
    f"US{rng.choice('ABC')}{rng.randint(10, 99)}{rng.randint(0, 99):02d}{rng.randint(0, 99999):05d}"
    for _ in range(10_000)
]


class Playlist(BaseModel):
    name: str
    tracks: list[SpotifyTrackId]


def main() -> None:
    forms = {
        "bare ID": IDS,
        "spotify: URI": [f"spotify:track:{i}" for i in IDS],
        "open.spotify.com URL": [f"https://open.spotify.com/intl-fr/track/{i}?si=ab" for i in IDS],
    }
    rows = []
    for name, items in forms.items():

        def run(n: int, items: list[str] = items) -> None:
            for k in range(n):
                parse_spotify_ref(items[k % 10_000])

        rows.append([f"parse_spotify_ref ({name})", f"{1 / best_per_call(run, 50_000):,.0f}"])

    def isrc(n: int) -> None:
        for k in range(n):
            validate_isrc(ISRCS[k % 10_000])

    rows.append(["validate_isrc", f"{1 / best_per_call(isrc, 50_000):,.0f}"])
    print_table("Identifier validation (per second)", ["operation", "ops/s"], rows)

    uris = [f"spotify:track:{i}" for i in IDS]

    def model(n: int) -> None:
        for _ in range(n):
            Playlist(name="big", tracks=uris)

    def report(n: int) -> None:
        for _ in range(n):
            validate_playlist({"name": "big", "tracks": uris})

    t_model, t_report = best_per_call(model, 3), best_per_call(report, 3)
    print_table(
        "A 10,000-track playlist",
        ["validation", "playlists/s", "ms each"],
        [
            [
                "pydantic model (SpotifyTrackId items)",
                f"{1 / t_model:,.1f}",
                f"{t_model * 1e3:,.1f}",
            ],
            ["validate_playlist (full report)", f"{1 / t_report:,.1f}", f"{t_report * 1e3:,.1f}"],
        ],
    )


if __name__ == "__main__":
    main()
