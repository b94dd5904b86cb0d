"""HLS packaging: what FFmpeg decodes back, the bitrates measured, the playlists, and the
refusals."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf

from backbeat.streaming import StreamingError, package, parse_ladder
from tests.audio._synth import RATE, groove

BACKBEAT = str(Path(sys.executable).with_name("backbeat"))


@pytest.fixture(scope="module")
def song(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("song") / "groove.wav"
    x = groove(120.0, bars=12)
    sf.write(path, np.stack([x, 0.8 * x], 1) * 0.5, RATE)
    return path


def _decoded_seconds(playlist: Path) -> float:
    with av.open(str(playlist)) as container:
        stream = container.streams.audio[0]
        samples = sum(frame.samples for frame in container.decode(stream))
        return samples / stream.rate


def test_the_ladder_decodes_back_at_its_bitrates(song: Path, tmp_path: Path) -> None:
    ladder = parse_ladder("opus:32,96+aac:64,128")
    result = package(song, tmp_path / "out", ladder=ladder, segment_s=4.0)
    source_s = sf.info(song).duration
    assert result.duration_s == pytest.approx(source_s, rel=1e-3)
    master = (tmp_path / "out" / "master.m3u8").read_text()
    assert master.count("#EXT-X-STREAM-INF:") == 4
    assert 'CODECS="opus"' in master
    assert 'CODECS="mp4a.40.2"' in master
    assert "com.backbeat.replaygain.track_gain" in master
    for rendition in result.renditions:
        folder = tmp_path / "out" / rendition["name"]
        assert _decoded_seconds(folder / "index.m3u8") == pytest.approx(source_s, rel=0.01)
        assert rendition["measured_kbps"] == pytest.approx(rendition["nominal_kbps"], rel=0.2)
        assert f"{rendition['name']}/index.m3u8" in master
        durations = [
            float(line[8:].split(",")[0])
            for line in (folder / "index.m3u8").read_text().splitlines()
            if line.startswith("#EXTINF:")
        ]
        assert all(d == pytest.approx(4.0, abs=0.05) for d in durations[:-1])
    # the playback gain brings the track to -14 LUFS unless the peak forbids it
    assert result.gain_db == pytest.approx(
        min(-14.0 - result.integrated_lufs, -result.peak_dbfs), abs=0.01
    )
    assert result.peak_dbfs + result.gain_db <= 1e-9


def test_packaging_is_idempotent_and_content_addressed(song: Path, tmp_path: Path) -> None:
    ladder = parse_ladder("opus:64")
    first = package(song, tmp_path / "out", ladder=ladder)
    stamp = (tmp_path / "out" / "package.json").stat().st_mtime_ns
    again = package(song, tmp_path / "out", ladder=ladder)
    assert again.reused
    assert again.key == first.key
    assert (tmp_path / "out" / "package.json").stat().st_mtime_ns == stamp
    other = package(song, tmp_path / "out", ladder=parse_ladder("opus:96"))
    assert not other.reused
    assert other.key != first.key
    assert not (tmp_path / "out" / "opus_64").exists()


def test_a_failure_leaves_no_half_ladder(
    song: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened = []
    real = av.open

    def failing(*args: object, **kwargs: object) -> object:
        if kwargs.get("mode") == "w" and opened:
            raise OSError("disk full")
        opened.append(args)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(av, "open", failing)
    with pytest.raises(OSError, match="disk full"):
        package(song, tmp_path / "out", ladder=parse_ladder("opus:32,64"))
    assert not (tmp_path / "out").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".packaging-")]


@pytest.mark.parametrize("text", ["opus:64,64", "flac:900", "opus:1000", "opus:fast", "", "aac:"])
def test_impossible_ladders_are_refused(text: str) -> None:
    with pytest.raises(StreamingError) as info:
        parse_ladder(text)
    assert info.value.code == "streaming.ladder_invalid"


def test_cli_packages_and_refuses_what_is_not_audio(song: Path, tmp_path: Path) -> None:
    done = subprocess.run(
        [
            BACKBEAT,
            "stream",
            "package",
            str(song),
            "--out",
            str(tmp_path / "hls"),
            "--ladder",
            "opus:48",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["renditions"][0]["name"] == "opus_48"
    assert (tmp_path / "hls" / "master.m3u8").exists()
    junk = tmp_path / "notes.txt"
    junk.write_text("not audio at all\n" * 50)
    bad = subprocess.run(
        [BACKBEAT, "stream", "package", str(junk), "--out", str(tmp_path / "x")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode != 0
    assert "notes.txt" in bad.stderr
    assert "Traceback" not in bad.stderr
    assert not (tmp_path / "x").exists()


def test_a_mono_clip_whose_last_aac_frames_once_broke_the_muxer(tmp_path: Path) -> None:
    from tests.server.test_catalogue import _wav

    source = tmp_path / "mono.wav"
    source.write_bytes(_wav(140.0))  # 11.29 s, mono, 44.1 kHz
    result = package(source, tmp_path / "out", ladder=parse_ladder("aac:64+opus:32"))
    for rendition in result.renditions:
        playlist = tmp_path / "out" / rendition["name"] / "index.m3u8"
        assert _decoded_seconds(playlist) == pytest.approx(result.duration_s, rel=0.01)
