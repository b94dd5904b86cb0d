from __future__ import annotations

import json
import math
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from backbeat import audio
from backbeat.audio import VECTOR_FIELDS, AudioFeatures, analyze
from backbeat.audio._descriptors import DESCRIPTORS
from backbeat.audio._loudness import LoudnessMeter
from tests.audio._synth import RATE, groove, sine

SPOTIFY_FIELDS = set(audio.SPOTIFY_FIELDS)


@pytest.mark.parametrize(
    ("name", "tempo", "key", "mode", "meter"),
    [
        ("c_major_120.wav", 120.0, 0, 1, 4),
        ("d_minor_90_3.flac", 90.0, 2, 0, 3),
        ("a_major_150.wav", 150.0, 9, 1, 4),
    ],
)
def test_tempo_key_mode_and_meter_of_known_grooves(
    audio_dir: Path, name: str, tempo: float, key: int, mode: int, meter: int
) -> None:
    features = analyze(audio_dir / name)
    assert abs(features.tempo - tempo) <= 0.04 * tempo
    assert (features.key, features.mode) == (key, mode)
    assert features.time_signature == meter
    assert features.key_confidence > 0.5
    assert features.tempo_confidence > 0.5


def test_every_spotify_field_in_range(audio_dir: Path) -> None:
    features = analyze(audio_dir / "c_major_120.wav")
    data = features.to_dict()
    assert set(data) >= SPOTIFY_FIELDS
    for name in DESCRIPTORS:
        assert 0.0 <= data[name] <= 1.0, name
    assert -1 <= data["key"] <= 11
    assert data["mode"] in (0, 1)
    assert 3 <= data["time_signature"] <= 7
    assert data["duration_ms"] == pytest.approx(len(groove(120.0)) / RATE * 1000, abs=2)
    json.dumps(data)
    body = features.to_spotify("4uLU6hMCjMI75M1A2tKUQC")
    assert body["type"] == "audio_features"
    assert body["uri"] == "spotify:track:4uLU6hMCjMI75M1A2tKUQC"
    assert set(body) >= SPOTIFY_FIELDS


def test_a_groove_is_more_danceable_and_instrumental_than_noise(
    audio_dir: Path, tmp_path: Path
) -> None:
    rng = np.random.default_rng(3)
    sf.write(
        tmp_path / "noise.wav", (0.2 * rng.standard_normal(RATE * 20)).astype(np.float32), RATE
    )
    music = analyze(audio_dir / "c_major_120.wav")
    noise = analyze(tmp_path / "noise.wav")
    assert music.danceability > 0.8 > noise.danceability
    assert noise.key == -1  # no clear key in white noise


def test_silence_is_documented_not_an_error(audio_dir: Path) -> None:
    features = analyze(audio_dir / "silence.wav")
    assert (features.key, features.tempo, features.time_signature) == (-1, 0.0, 4)
    assert features.loudness == -100.0
    assert features.danceability == features.energy == 0.0


def test_loudness_follows_bs1770_reference_tones() -> None:
    # EBU Tech 3341: a 1 kHz sine at -23 dBFS in both channels reads -23.0 LUFS.
    for dbfs in (-23.0, -12.0):
        tone = sine(1000.0, 10.0, 10 ** (dbfs / 20), 48_000)
        meter = LoudnessMeter(48_000, 2)
        for start in range(0, len(tone), 7_000):  # odd block sizes: the meter streams
            chunk = tone[start : start + 7_000]
            meter.feed(np.stack([chunk, chunk], axis=1))
        assert meter.integrated() == pytest.approx(dbfs, abs=0.1)


def test_gain_changes_loudness_not_tempo_or_key(audio_dir: Path, tmp_path: Path) -> None:
    data, rate = sf.read(audio_dir / "a_major_150.wav", dtype="float32")
    sf.write(tmp_path / "quiet.wav", data * 10 ** (-12 / 20), rate)
    loud, quiet = analyze(audio_dir / "a_major_150.wav"), analyze(tmp_path / "quiet.wav")
    assert quiet.loudness == pytest.approx(loud.loudness - 12.0, abs=0.1)
    assert (quiet.key, quiet.mode) == (loud.key, loud.mode)
    assert quiet.tempo == pytest.approx(loud.tempo, rel=0.01)


def test_vector_has_fixed_length_and_is_transposition_invariant(
    audio_dir: Path, tmp_path: Path
) -> None:
    sf.write(tmp_path / "c.wav", groove(120.0, tonic=0), RATE)
    sf.write(tmp_path / "e.wav", groove(120.0, tonic=4), RATE)
    c, e = analyze(tmp_path / "c.wav").vector(), analyze(tmp_path / "e.wav").vector()
    other = analyze(audio_dir / "d_minor_90_3.flac").vector()
    assert c.shape == e.shape == (len(VECTOR_FIELDS),)
    assert c.dtype == np.float32
    assert np.isfinite(c).all()

    chroma = slice(
        VECTOR_FIELDS.index("chroma0_rel_key"), VECTOR_FIELDS.index("chroma11_rel_key") + 1
    )
    # Rotated to the key, the tonal profile of a transposed groove is the same.
    assert np.abs(c[chroma] - e[chroma]).sum() < 0.1
    assert np.abs(c[chroma] - other[chroma]).sum() > 2 * np.abs(c[chroma] - e[chroma]).sum()


def test_lowlevel_arrays_and_summary(audio_dir: Path) -> None:
    features = analyze(audio_dir / "c_major_120.wav")
    low = features.lowlevel
    assert low is not None
    frames = len(low.rms)
    assert low.mfcc.shape == (frames, 13)
    assert low.chroma.shape[1] == 12
    for series in (low.centroid, low.bandwidth, low.rolloff, low.flatness, low.zcr):
        assert series.shape == (frames,)
        assert np.isfinite(series).all()
    summary = low.summary()
    assert {"centroid", "mfcc0", "chroma11", "onset"} <= set(summary)
    assert summary["centroid"]["min"] <= summary["centroid"]["mean"] <= summary["centroid"]["max"]
    assert 1.0 < low.onset_rate < 10.0  # one onset per beat at 2 beats/s, plus snares


def test_a_long_file_is_streamed_in_bounded_memory(tmp_path: Path) -> None:
    path = tmp_path / "long.wav"
    bar = np.stack([groove(120.0, bars=4)] * 2, axis=1)
    minutes = 10
    with sf.SoundFile(path, "w", RATE, 2, subtype="PCM_16") as f:
        for _ in range(math.ceil(minutes * 60 * RATE / len(bar))):
            f.write(bar)
    full_load = minutes * 60 * RATE * 2 * 4  # the whole file as float32 stereo
    tracemalloc.start()
    try:
        features = analyze(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert features.duration_ms > minutes * 60_000
    assert abs(features.tempo - 120.0) < 2.0
    assert peak < full_load / 2, f"peak {peak / 1e6:.0f} MB"


def test_features_is_a_plain_dataclass() -> None:
    features = AudioFeatures(0.5, 0.5, 0, -10.0, 1, 0.1, 0.1, 0.9, 0.1, 0.5, 120.0, 4, 1000)
    assert features.vector().shape == (len(VECTOR_FIELDS),)


@pytest.mark.anyio
async def test_seed_audio_processor_extracts_features_off_the_loop(audio_dir: Path) -> None:
    from backbeat.audio import AudioProcessor

    plain = await AudioProcessor().extract_features(audio_dir / "c_major_120.wav")
    assert set(plain) >= SPOTIFY_FIELDS
    assert "embedding" not in plain
    advanced = await AudioProcessor().extract_features(
        (audio_dir / "c_major_120.wav").read_bytes(), advanced_features=True
    )
    assert len(advanced["embedding"]) == len(VECTOR_FIELDS)
    assert advanced["summary"]["centroid"]["mean"] > 0
    assert advanced["key"] == plain["key"] == 0
