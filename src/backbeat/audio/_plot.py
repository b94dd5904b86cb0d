"""``backbeat analyze FILE --plot out.png``: waveform, beats, chroma and loudness in one figure."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from backbeat.audio._batch import key_name
from backbeat.audio._decode import AudioSource, decode
from backbeat.audio._models import AudioAnalysis, AudioFeatures

__all__ = ["plot_analysis"]


def plot_analysis(
    source: AudioSource, features: AudioFeatures, analysis: AudioAnalysis, out: Path
) -> None:
    """Draw the figure with matplotlib's Agg backend (no display needed) and save it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    samples, rate = decode(source, 4_000)
    times = np.arange(len(samples)) / rate
    figure, (wave, chroma, level) = plt.subplots(3, 1, figsize=(12, 8), sharex=True)
    wave.plot(times, samples, linewidth=0.3, color="0.3")
    for beat in analysis.beats:
        wave.axvline(beat.start, color="tab:blue", alpha=0.25, linewidth=0.6)
    for bar in analysis.bars:
        wave.axvline(bar.start, color="tab:red", alpha=0.6, linewidth=0.9)
    wave.set_ylabel("waveform")
    wave.set_title(
        f"tempo {features.tempo:.1f} BPM · {features.time_signature}/4 · "
        f"{key_name(features.key, features.mode)} · {features.loudness:.1f} LUFS"
    )
    if features.lowlevel is not None and len(features.lowlevel.chroma):
        data = features.lowlevel.chroma.T
        end = len(features.lowlevel.chroma) / features.lowlevel.chroma_frame_rate
        chroma.imshow(
            data, aspect="auto", origin="lower", extent=(0, end, -0.5, 11.5), cmap="magma"
        )
        chroma.set_yticks(
            range(12), ["C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"]
        )
    chroma.set_ylabel("chroma")
    starts = [s.start for s in analysis.segments]
    level.step(starts, [s.loudness_max for s in analysis.segments], where="post", linewidth=0.8)
    for section in analysis.sections:
        level.axvline(section.start, color="tab:green", linewidth=1.2)
    level.set_ylabel("segment loudness (dB)")
    level.set_xlabel("time (s)")
    figure.tight_layout()
    figure.savefig(out, dpi=100)
    plt.close(figure)
