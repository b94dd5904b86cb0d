from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from backbeat.audio import AudioDecodeError, AudioTooShortError, analyze, decode, open_audio
from tests.audio._synth import RATE, sine


def _write(path: Path, data: np.ndarray, rate: int = RATE, **options: str) -> Path:
    with sf.SoundFile(path, "w", rate, 1 if data.ndim == 1 else data.shape[1], **options) as f:
        for start in range(0, len(data), 4096):
            f.write(data[start : start + 4096])
    return path


@pytest.mark.parametrize(
    ("suffix", "options"),
    [
        ("wav", {}),
        ("flac", {}),
        ("ogg", {"format": "OGG", "subtype": "VORBIS"}),
        ("opus", {"format": "OGG", "subtype": "OPUS"}),
        ("mp3", {"format": "MP3"}),  # written by libsndfile, read by PyAV
    ],
)
def test_libsndfile_formats_decode_to_mono_at_the_analysis_rate(
    tmp_path: Path, suffix: str, options: dict[str, str]
) -> None:
    rate = 48_000 if suffix == "opus" else RATE
    path = _write(tmp_path / f"a.{suffix}", sine(440.0, 2.0, 0.5, rate), rate, **options)
    samples, out_rate = decode(path)
    assert out_rate == 22_050
    assert samples.dtype == np.float32
    assert samples.ndim == 1
    assert abs(len(samples) / out_rate - 2.0) < 0.1
    # The tone survives: most energy within a few Hz of 440.
    spectrum = np.abs(np.fft.rfft(samples))
    assert abs(np.argmax(spectrum) * out_rate / len(samples) - 440.0) < 3.0


def test_mp3_is_read_by_pyav_and_damaged_mp3_writes_nothing_to_stderr(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path / "a.mp3", sine(440.0, 2.0, 0.5), RATE, format="MP3")
    with open_audio(path) as opened:
        assert opened.format == "MP3"
        assert opened.channels == 1
    # libsndfile's MPEG decoder printed "Note: Illegal Audio-MPEG-Header" lines on fd 2
    # for these; capfd captures the file descriptor, so a C library's write shows here.
    noise = np.random.default_rng(3).integers(0, 256, 3000, dtype=np.uint8).tobytes()
    for data in (b"ID3\x03\x00\x00\x00\x00\x00\x00" + noise, noise):
        bad = tmp_path / "bad.mp3"
        bad.write_bytes(data)
        with pytest.raises(AudioDecodeError, match=r"bad\.mp3") as refused:
            decode(bad)
        assert refused.value.code == "audio.decode_failed"
    # A valid start then garbage: what decoded is kept, as players do.
    (tmp_path / "cut.mp3").write_bytes(path.read_bytes()[:4000] + noise)
    samples, _ = decode(tmp_path / "cut.mp3")
    assert len(samples) > 0
    captured = capfd.readouterr()
    assert captured.err == ""
    assert captured.out == ""


def test_aac_in_m4a_goes_through_pyav(tmp_path: Path) -> None:
    av = pytest.importorskip("av")
    path = tmp_path / "a.m4a"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=RATE)
        stream.layout = "mono"
        tone = sine(440.0, 2.0, 0.5)
        for start in range(0, len(tone), 1024):
            frame = av.AudioFrame.from_ndarray(tone[None, start : start + 1024], "fltp", "mono")
            frame.sample_rate = RATE
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    with open_audio(path) as opened:
        assert opened.format == "MOV,MP4,M4A,3GP,3G2,MJ2"
        assert opened.channels == 1
        assert opened.duration is not None
        assert abs(opened.duration - 2.0) < 0.15
    samples, rate = decode(path)
    assert abs(len(samples) / rate - 2.0) < 0.15


def test_bytes_and_file_objects_decode_like_paths(tmp_path: Path) -> None:
    path = _write(tmp_path / "a.wav", sine(220.0, 1.5, 0.3))
    from_path, _ = decode(path)
    from_bytes, _ = decode(path.read_bytes())
    with path.open("rb") as f:
        from_file, _ = decode(f)
    np.testing.assert_allclose(from_path, from_bytes)
    np.testing.assert_allclose(from_path, from_file)


def test_channels_and_rates_are_kept_when_asked(tmp_path: Path) -> None:
    six = np.stack([sine(100.0 * (c + 1), 1.0, 0.1) for c in range(6)], axis=1)
    path = _write(tmp_path / "surround.wav", six)
    data, rate = decode(path, mono=False)
    assert data.shape == (RATE, 6)
    assert rate == RATE
    with open_audio(path) as opened:
        assert (opened.channels, opened.sample_rate, opened.frames) == (6, RATE, RATE)
        assert opened.duration == 1.0


@pytest.mark.parametrize("rate", [8_000, 192_000])
def test_extreme_sample_rates_are_analysed(tmp_path: Path, rate: int) -> None:
    from tests.audio._synth import groove

    path = _write(tmp_path / f"r{rate}.wav", groove(120.0, bars=6, rate=rate), rate)
    features = analyze(path)
    assert abs(features.tempo - 120.0) <= 0.04 * 120.0
    assert features.key == 0
    assert features.mode == 1


@pytest.mark.parametrize(
    "payload", [b"", b"not audio at all" * 100, b"RIFF\x00\x00\x00\x00WAVEfmt garbage"]
)
def test_undecodable_input_raises_a_decode_error(payload: bytes) -> None:
    with pytest.raises(AudioDecodeError) as info:
        analyze(payload)
    assert info.value.code == "audio.decode_failed"
    assert info.value.http_status == 422


def test_missing_and_empty_files(tmp_path: Path) -> None:
    with pytest.raises(AudioDecodeError) as missing:
        analyze(tmp_path / "missing.wav")
    assert missing.value.details["reason"] == "no_such_file"
    assert missing.value.message == "The audio in missing.wav could not be decoded."
    (tmp_path / "empty.wav").write_bytes(b"")
    with pytest.raises(AudioDecodeError) as empty:
        analyze(tmp_path / "empty.wav")
    assert empty.value.details["reason"] == "empty"


def test_zero_length_and_very_short_audio_is_too_short(tmp_path: Path) -> None:
    sf.write(tmp_path / "zero.wav", np.zeros(0, np.float32), RATE)
    with pytest.raises(AudioTooShortError) as info:
        analyze(tmp_path / "zero.wav")
    assert info.value.code == "audio.too_short"
    sf.write(tmp_path / "short.wav", sine(440.0, 0.5, 0.3), RATE)
    with pytest.raises(AudioTooShortError):
        analyze(tmp_path / "short.wav")


def test_truncated_file_is_analysed_for_what_it_holds(tmp_path: Path) -> None:
    from tests.audio._synth import groove

    path = _write(tmp_path / "full.wav", groove(120.0, bars=8))
    data = path.read_bytes()
    truncated = data[: len(data) // 2]
    features = analyze(io.BytesIO(truncated))
    assert 6_000 < features.duration_ms < 9_000
