"""Refused input is said precisely: the parameter, the bound, the file, where JSON broke."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from backbeat import Settings
from backbeat.cli import app as cli
from backbeat.server import create_app
from tests.integration._upload import ARTIST, TRACK

ISOLATES = dict.fromkeys(map(ord, "\u2068\u2069"))  # FSI/PDI around interpolated text


@pytest.fixture
def client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("BACKBEAT_DATA_DIR", str(tmp_path))
    made = CliRunner().invoke(cli, ["apikey", "create", "--name", "t", "--scopes", "read,write"])
    key = made.stdout.strip().splitlines()[-1]
    settings = Settings.from_env({"BACKBEAT_DATA_DIR": str(tmp_path)})
    with TestClient(create_app(settings)) as c:
        c.headers["Authorization"] = f"Bearer {key}"
        yield c


def _error(response) -> dict[str, str]:  # type: ignore[no-untyped-def]
    body = response.json()["error"]
    body["message"] = body["message"].translate(ISOLATES)
    return body  # type: ignore[no-any-return]


def _metadata(**extra: object) -> str:
    body = {"id": TRACK, "name": "Song", "artists": [{"id": ARTIST, "name": "Band"}]}
    body.update(extra)
    return json.dumps(body)


def test_a_query_parameter_out_of_range_is_named_with_its_bound(client: TestClient) -> None:
    response = client.get(f"/v1/recommendations?seed_tracks={TRACK}&limit=-5")
    assert response.status_code == 400
    error = _error(response)
    assert error["code"] == "validation.invalid"
    assert error["message"] == "limit must be at least 1; -5 was given."
    high = _error(client.get(f"/v1/recommendations?seed_tracks={TRACK}&limit=500"))
    assert high["message"] == "limit must be at most 100; 500 was given."


def test_the_message_is_translated(client: TestClient) -> None:
    response = client.get(
        f"/v1/recommendations?seed_tracks={TRACK}&limit=-5", headers={"Accept-Language": "fr"}
    )
    assert _error(response)["message"] == "limit doit valoir au moins 1 ; reçu : -5."


def test_a_tunable_that_is_not_a_number_is_named(client: TestClient) -> None:
    response = client.get(f"/v1/recommendations?seed_tracks={TRACK}&min_tempo=fast")
    assert _error(response)["message"] == "min_tempo must be a number; fast was given."


def test_broken_metadata_json_says_where_it_broke(client: TestClient) -> None:
    response = client.post("/v1/tracks", data={"metadata": '{"id": "x",\n "name": }'})
    assert response.status_code == 400
    message = _error(response)["message"]
    assert message.startswith("metadata is not valid JSON: Expecting value")
    assert message.endswith("(line 2, column 10).")


def test_a_missing_metadata_field_is_named_with_its_path(client: TestClient) -> None:
    body = {"id": TRACK, "name": "Song"}
    response = client.post("/v1/tracks", data={"metadata": json.dumps(body)})
    assert _error(response)["message"] == "metadata.artists is required."
    popularity = client.post("/v1/tracks", data={"metadata": _metadata(popularity=101)})
    assert _error(popularity)["message"] == (
        "metadata.popularity must be at most 100; 101 was given."
    )


def test_a_body_field_is_named_with_its_position(client: TestClient) -> None:
    event = {"user": "u", "track": TRACK, "kind": "listen", "timestamp": "2026-01-01T00:00:00Z"}
    response = client.post("/v1/events", json={"events": [event]})
    message = _error(response)["message"]
    assert message.startswith("events[0].kind is invalid: ")


def test_an_empty_upload_is_called_empty_and_named(client: TestClient) -> None:
    response = client.post(
        "/v1/tracks",
        data={"metadata": _metadata()},
        files={"audio": ("silence.wav", b"", "audio/wav")},
    )
    assert response.status_code == 422
    error = _error(response)
    assert error["code"] == "audio.decode_failed"
    assert error["message"] == "The file silence.wav is empty."


def test_an_undecodable_upload_is_named_as_uploaded(client: TestClient) -> None:
    response = client.post(
        "/v1/tracks",
        data={"metadata": _metadata()},
        files={"audio": ("notes.wav", b"these are not samples" * 50, "audio/wav")},
    )
    assert response.status_code == 422
    assert _error(response)["message"] == "The audio in notes.wav could not be decoded."
