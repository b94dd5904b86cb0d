"""The media store: streamed, size-limited, content-addressed, traversal-free."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import soundfile as sf

from backbeat.audio import AudioDecodeError
from backbeat.catalogue import MediaPathRefused, MediaStore, UploadTooLarge
from tests.audio._synth import RATE, groove


def _wav() -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, groove(120.0, bars=1), RATE, format="WAV")
    return buffer.getvalue()


def test_a_file_is_stored_under_its_sha256_once(tmp_path: Path) -> None:
    source = tmp_path / "in" / "Song.WAV"
    source.parent.mkdir()
    source.write_bytes(_wav())
    store = MediaStore(tmp_path / "media")
    first = store.copy_file(source)
    again = store.copy_file(source)
    assert first == again
    assert first.path == f"{first.sha256[:2]}/{first.sha256}.wav"
    assert store.path(first.path).read_bytes() == source.read_bytes()
    assert list((tmp_path / "media" / "tmp").iterdir()) == []  # no temporary left behind


def test_the_size_limit_refuses_before_reading_everything(tmp_path: Path) -> None:
    source = tmp_path / "big.wav"
    source.write_bytes(_wav())
    store = MediaStore(tmp_path / "media", max_bytes=1000)
    with pytest.raises(UploadTooLarge):
        store.copy_file(source)
    assert not any(p.is_file() for p in (tmp_path / "media").rglob("*"))


@pytest.mark.anyio
async def test_a_stream_is_limited_while_it_arrives(tmp_path: Path) -> None:
    sent: list[int] = []

    async def chunks() -> AsyncIterator[bytes]:
        for i in range(100):
            sent.append(i)
            yield b"x" * 1024

    store = MediaStore(tmp_path / "media", max_bytes=4096)
    with pytest.raises(UploadTooLarge):
        await store.save_stream(chunks(), name="big.wav")
    assert len(sent) == 5  # stopped at the first chunk over the limit


def test_errors_name_the_file_as_given(tmp_path: Path) -> None:
    store = MediaStore(tmp_path / "media")
    empty = tmp_path / "empty.flac"
    empty.write_bytes(b"")
    with pytest.raises(AudioDecodeError) as raised:
        store.copy_file(empty)
    assert raised.value.details["reason"] == "empty"
    assert raised.value.message == "The file empty.flac is empty."
    junk = tmp_path / "junk.mp3"
    junk.write_bytes(b"no audio here" * 100)
    with pytest.raises(AudioDecodeError) as raised:
        store.copy_file(junk)
    assert raised.value.message == "The audio in junk.mp3 could not be decoded."


def test_paths_outside_the_roots_are_refused(tmp_path: Path) -> None:
    store = MediaStore(tmp_path / "media")
    with pytest.raises(MediaPathRefused):
        store.path("../../etc/passwd")
    shared = tmp_path / "shared"
    shared.mkdir()
    (tmp_path / "secret.wav").write_bytes(_wav())
    with pytest.raises(MediaPathRefused):
        store.copy_from(shared, "../secret.wav")
    with pytest.raises(MediaPathRefused):
        store.copy_from(None, "song.wav")
    (shared / "song.wav").write_bytes(_wav())
    assert store.copy_from(shared, "song.wav").size == len(_wav())
