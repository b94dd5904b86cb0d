from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import soundfile as sf

from backbeat.audio import analyze_all, analyze_structure
from tests.audio._synth import RATE, groove


def test_analysis_has_spotifys_shape_and_consistent_timing(audio_dir: Path) -> None:
    analysis = analyze_structure(audio_dir / "c_major_120.wav")
    data = analysis.to_dict()
    assert set(data) == {"meta", "track", "bars", "beats", "tatums", "sections", "segments"}
    json.dumps(data)
    track = analysis.track
    assert abs(track.tempo - 120.0) < 4.8
    assert track.time_signature == 4
    assert track.key == 0
    assert track.mode == 1
    duration = track.duration
    beats = analysis.beats
    # About two beats a second, evenly spaced, within the track.
    assert abs(len(beats) - duration * 2) <= 6
    gaps = np.diff([b.start for b in beats])
    assert np.allclose(gaps, 0.5, atol=0.03)
    assert all(0 <= b.start < duration for b in beats)
    # Bars every fourth beat, starting on the kick (the downbeat).
    assert abs(len(analysis.bars) - len(beats) / 4) <= 1
    bar_gaps = np.diff([b.start for b in analysis.bars])
    assert np.allclose(bar_gaps, 2.0, atol=0.05)
    assert len(analysis.tatums) >= 2 * len(beats) - 2
    # Sections tile the track.
    sections = analysis.sections
    assert sections[0].start == 0.0
    assert abs(sum(s.duration for s in sections) - duration) < 0.01
    # Segments tile the track too, each with 12 pitches (max 1) and 12 timbre values.
    segments = analysis.segments
    assert abs(segments[-1].start + segments[-1].duration - duration) < 0.05
    assert len(segments) >= len(beats) * 0.8
    for segment in segments[1:-1]:
        assert len(segment.pitches) == 12
        assert len(segment.timbre) == 12
        assert max(segment.pitches) == 1.0
        assert segment.loudness_max >= segment.loudness_start - 1e-9
        assert 0 <= segment.loudness_max_time <= segment.duration + 1e-6


def test_sections_find_a_change_of_material(tmp_path: Path) -> None:
    first = groove(120.0, tonic=0, bars=16)
    second = groove(120.0, tonic=6, minor=True, bars=16, seed=5) * 0.5
    sf.write(tmp_path / "two_parts.wav", np.concatenate([first, second]), RATE)
    analysis = analyze_structure(tmp_path / "two_parts.wav")
    boundary = len(first) / RATE
    starts = [s.start for s in analysis.sections]
    assert any(abs(s - boundary) < 2.0 for s in starts[1:]), starts
    keys = {(s.key, s.mode) for s in analysis.sections}
    assert (0, 1) in keys
    assert (6, 0) in keys


def test_fades_are_found(tmp_path: Path) -> None:
    music = groove(120.0, bars=16)
    ramp = np.ones_like(music)
    n = 4 * RATE
    ramp[:n] = np.linspace(0.0, 1.0, n) ** 2
    ramp[-n:] = np.linspace(1.0, 0.0, n) ** 2
    sf.write(tmp_path / "fades.wav", music * ramp, RATE)
    track = analyze_structure(tmp_path / "fades.wav").track
    assert 0.5 < track.end_of_fade_in < 4.0
    assert track.duration - 5.0 < track.start_of_fade_out < track.duration


def test_both_results_from_one_pass_agree(audio_dir: Path) -> None:
    features, analysis = analyze_all(audio_dir / "d_minor_90_3.flac")
    assert features.tempo == analysis.track.tempo
    assert (features.key, features.mode) == (analysis.track.key, analysis.track.mode)
    assert features.time_signature == analysis.track.time_signature == 3
    assert abs(len(analysis.bars) - len(analysis.beats) / 3) <= 1


def test_silence_has_no_beats(audio_dir: Path) -> None:
    analysis = analyze_structure(audio_dir / "silence.wav")
    assert analysis.beats == []
    assert analysis.bars == []
    assert analysis.track.key == -1
    assert len(analysis.sections) == 1
