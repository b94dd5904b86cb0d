"""The shared front end: one pass over the decoded audio, every representation at once.

Two short-time Fourier transforms run over the mono signal at the analysis rate,
block by block as it is decoded (memory is bounded by what each frame keeps):

- the *main* STFT (2048-point Hann, hop 512: 93 ms windows, 43 frames/s) gives
  the power mel spectrogram (64 bands, Slaney scale), MFCCs (DCT-II of the log
  mel), spectral centroid/bandwidth/roll-off/flatness, frame RMS and
  zero-crossing rate, and the onset envelope: SuperFlux (Böck & Widmer 2013) on
  a log-magnitude filterbank of 24 bands per octave (30 Hz-11 kHz), computed as
  the blocks stream in;
- the *pitch* STFT (8192 points, hop 2048: 2.7 Hz bins, for notes down to C2)
  is folded into a log-frequency spectrum with three bins per semitone from C1 to
  B7; the tuning offset is estimated on it once, and the chroma (C2-B6) follows.

Everything downstream (rhythm, tonality, structure, descriptors) reads these
arrays; nothing decodes or transforms the audio a second time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import numpy.typing as npt
import scipy.fft
from numpy.lib.stride_tricks import sliding_window_view

__all__ = ["REFERENCE_LUFS", "Frames", "FrontEnd", "mel_filterbank"]

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]

N_FFT = 2048
HOP = 512
PITCH_FFT = 8192
PITCH_HOP = 2048
N_MELS = 64
N_MFCC = 13
BINS_PER_SEMITONE = 3
LOWEST_MIDI = 24  # C1
N_SEMITONES = 84  # C1 .. B7
FLUX_BANDS_PER_OCTAVE = 24
FLUX_FMIN, FLUX_FMAX = 30.0, 11_000.0
FLUX_GAIN = 1e3  # log10(1 + gain * power): the compression SuperFlux applies before differencing
REFERENCE_LUFS = -23.0  # EBU R 128 programme level: the onset compression and level thresholds


def _hz_to_mel(f: F64) -> F64:
    # Slaney's auditory-toolbox mel: linear below 1 kHz, logarithmic above.
    f = np.asarray(f, dtype=np.float64)
    mel = f / (200.0 / 3)
    log_part = 15.0 + np.log(np.maximum(f, 1e-9) / 1000.0) / (np.log(6.4) / 27.0)
    return np.where(f >= 1000.0, log_part, mel)


def _mel_to_hz(m: F64) -> F64:
    m = np.asarray(m, dtype=np.float64)
    lin = m * (200.0 / 3)
    log_part = 1000.0 * np.exp((np.log(6.4) / 27.0) * (m - 15.0))
    return np.where(m >= 15.0, log_part, lin)


@lru_cache(maxsize=8)
def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int = N_MELS) -> F32:
    """Triangular, area-normalised mel filters as a ``(n_fft//2+1, n_mels)`` matrix."""
    freqs = np.arange(n_fft // 2 + 1) * sample_rate / n_fft
    edges = _mel_to_hz(
        np.linspace(_hz_to_mel(np.array(0.0)), _hz_to_mel(np.array(sample_rate / 2)), n_mels + 2)
    )
    lower, centre, upper = edges[:-2], edges[1:-1], edges[2:]
    rising = (freqs[:, None] - lower) / (centre - lower)
    falling = (upper - freqs[:, None]) / (upper - centre)
    weights = np.maximum(0.0, np.minimum(rising, falling))
    weights *= 2.0 / (upper - lower)
    out: F32 = weights.astype(np.float32)  # typed on numpy 2.3's stubs too (Any there)
    return out


@lru_cache(maxsize=8)
def _pitch_matrix(sample_rate: int, n_fft: int) -> F32:
    """Linear bins -> log-frequency bins (three per semitone), triangular in pitch."""
    freqs = np.arange(n_fft // 2 + 1) * sample_rate / n_fft
    with np.errstate(divide="ignore"):
        midi = 69.0 + 12.0 * np.log2(np.maximum(freqs, 1e-9) / 440.0)
    centres = LOWEST_MIDI + np.arange(N_SEMITONES * BINS_PER_SEMITONE) / BINS_PER_SEMITONE
    distance = np.abs(midi[:, None] - centres[None, :]) * BINS_PER_SEMITONE
    weights = np.maximum(0.0, 1.0 - distance)
    weights[freqs < 25.0] = 0.0
    return weights.astype(np.float32)


@lru_cache(maxsize=8)
def flux_filterbank(sample_rate: int, n_fft: int) -> F32:
    """Triangular filters 24 per octave as a ``(n_fft//2+1, bands)`` matrix.

    Centres are snapped to FFT bins and deduplicated: below a few hundred hertz
    neighbouring centres fall on the same bin and merge, as in SuperFlux's
    filterbank; each filter sums to one.
    """
    resolution = sample_rate / n_fft
    top = min(FLUX_FMAX, 0.45 * sample_rate)
    count = int(np.log2(top / FLUX_FMIN) * FLUX_BANDS_PER_OCTAVE) + 2
    centres = FLUX_FMIN * 2.0 ** (np.arange(count) / FLUX_BANDS_PER_OCTAVE)
    bins = np.unique(np.round(centres / resolution).astype(np.int64))
    bins = bins[bins <= n_fft // 2]
    weights = np.zeros((n_fft // 2 + 1, len(bins) - 2), dtype=np.float32)
    for band, (low, centre, high) in enumerate(zip(bins[:-2], bins[1:-1], bins[2:], strict=True)):
        weights[low : centre + 1, band] = np.linspace(0.0, 1.0, centre - low + 1)
        falling = np.linspace(1.0, 0.0, high - centre + 1)
        weights[centre : high + 1, band] = np.maximum(weights[centre : high + 1, band], falling)
        weights[:, band] /= weights[:, band].sum()
    return weights


@lru_cache(maxsize=4)
def _dct_matrix(n_in: int, n_out: int) -> F32:
    return np.asarray(
        scipy.fft.dct(np.eye(n_in), type=2, norm="ortho", axis=0)[:, :n_out], np.float32
    )


@lru_cache(maxsize=4)
def _window(n: int) -> F32:
    return np.hanning(n + 1)[:-1].astype(np.float32)


class _Framer:
    """Centred frames of ``n`` samples every ``hop`` from a stream of blocks."""

    def __init__(self, n: int, hop: int) -> None:
        self.n, self.hop = n, hop
        self._buffer = np.zeros(n // 2, dtype=np.float32)  # centre the first frame on t=0

    def push(self, block: F32, last: bool = False) -> F32:
        data = np.concatenate([self._buffer, block])
        if last:
            data = np.concatenate([data, np.zeros(self.n // 2, np.float32)])
        if len(data) < self.n:
            self._buffer = data
            return np.zeros((0, self.n), dtype=np.float32)
        count = (len(data) - self.n) // self.hop + 1
        frames = sliding_window_view(data, self.n)[:: self.hop][:count]
        self._buffer = data[count * self.hop :]
        return frames


@dataclass
class Frames:
    """What the front end computed; frame ``i`` of the main STFT is centred at ``i * hop / sr``."""

    sample_rate: int
    hop: int
    num_samples: int
    mel: F32  # (n, 64) power
    mfcc: F32  # (n, 13)
    centroid: F32
    bandwidth: F32
    rolloff: F32
    flatness: F32
    rms: F32
    zcr: F32
    flux: F32  # SuperFlux onset strength per main frame
    pitch_hop: int
    pitch_spectrum: F32  # (m, 252) power, log-frequency
    tuning: float = 0.0
    level_gain: float = 1.0  # amplitude factor to the reference level (thresholds use it)
    chroma: F32 = field(default_factory=lambda: np.zeros((0, 12), np.float32))
    # Pitch classes of the bass (E1-B2), each frame scaled to a maximum of 1: chord roots.
    bass_chroma: F32 = field(default_factory=lambda: np.zeros((0, 12), np.float32))

    @property
    def frame_rate(self) -> float:
        return self.sample_rate / self.hop

    @property
    def duration(self) -> float:
        return self.num_samples / self.sample_rate

    def __len__(self) -> int:
        return len(self.rms)


class FrontEnd:
    """Feed mono float32 blocks at ``sample_rate``; :meth:`finish` returns :class:`Frames`."""

    def __init__(self, sample_rate: int) -> None:
        self.sample_rate = sample_rate
        self._main = _Framer(N_FFT, HOP)
        self._pitch = _Framer(PITCH_FFT, PITCH_HOP)
        self._mel_fb = mel_filterbank(sample_rate, N_FFT)
        self._pitch_fb = _pitch_matrix(sample_rate, PITCH_FFT)
        self._flux_fb = flux_filterbank(sample_rate, N_FFT)
        self._freqs = (np.arange(N_FFT // 2 + 1) * sample_rate / N_FFT).astype(np.float32)
        self._parts: dict[str, list[F32]] = {}
        self.num_samples = 0

    def _keep(self, name: str, value: F32) -> None:
        self._parts.setdefault(name, []).append(value)

    def feed(self, block: F32, last: bool = False) -> None:
        self.num_samples += len(block)
        frames = self._main.push(block, last)
        if len(frames):
            self._main_frames(frames)
        pitch_frames = self._pitch.push(block, last)
        if len(pitch_frames):
            spectrum = scipy.fft.rfft(pitch_frames * _window(PITCH_FFT), axis=1)
            power = (spectrum.real**2 + spectrum.imag**2).astype(np.float32)
            self._keep("pitch", power @ self._pitch_fb)

    def _main_frames(self, frames: F32) -> None:
        spectrum = scipy.fft.rfft(frames * _window(N_FFT), axis=1)
        power = (spectrum.real**2 + spectrum.imag**2).astype(np.float32)
        mel = power @ self._mel_fb
        self._keep("mel", mel)
        self._keep("mfcc", np.log10(mel + 1e-10) @ _dct_matrix(N_MELS, N_MFCC))
        magnitude = np.sqrt(power)
        total = magnitude.sum(axis=1) + 1e-12
        centroid = (magnitude @ self._freqs) / total
        spread = (magnitude @ (self._freqs**2)) / total - centroid**2
        self._keep("centroid", centroid)
        self._keep("bandwidth", np.sqrt(np.maximum(spread, 0.0)))
        self._keep("rolloff", self._freqs[_rolloff_bins(power, 0.85)])
        # Flatness (geometric over arithmetic mean) over the spectrum's top 50 dB: each bin
        # is floored 50 dB under the frame's mean power. With an absolute floor, bins the
        # music leaves empty read the file's own noise (16-bit quantisation, an MP3's
        # band above its cut-off), so the same groove 20 dB down measured flatter (mean
        # log10 -4.87 against -5.98: speechiness moved by 0.11); now -4.04 against -4.08.
        mean_power = power.mean(axis=1, keepdims=True)
        floor = 1e-5 * mean_power + 1e-30
        log_mean = np.log(power + floor).mean(axis=1)
        flatness = np.exp(log_mean) / (mean_power[:, 0] + floor[:, 0])
        self._keep("flatness", flatness.astype(np.float32))
        self._keep("rms", np.sqrt(np.mean(frames**2, axis=1)))
        signs = np.signbit(frames)
        self._keep("zcr", np.mean(signs[:, 1:] != signs[:, :-1], axis=1, dtype=np.float32))
        self._keep("flux_bands", power @ self._flux_fb)

    def _superflux(self, power_gain: float) -> F32:
        """Positive log-band differences against the previous frame's maximum-filtered bands.

        The maximum over neighbouring bands (3 wide) keeps vibrato and glides from
        counting as onsets; soft note changes (bowed strings, choir, organ) still do.
        Computed once every frame is in, block by block as the bands were kept, on band
        powers scaled by ``power_gain`` (the track brought to :data:`REFERENCE_LUFS`):
        the log compression is then the same for a quiet and a loud copy of one mix,
        and so is everything read from it.
        """
        gain = np.float32(FLUX_GAIN * power_gain)
        previous: F32 | None = None
        out: list[F32] = []
        for band_power in self._parts.pop("flux_bands", []):
            bands = np.log10(np.float32(1.0) + gain * band_power)
            reference = bands.copy()  # each band's maximum with its two neighbours
            np.maximum(reference[:, 1:], bands[:, :-1], out=reference[:, 1:])
            np.maximum(reference[:, :-1], bands[:, 1:], out=reference[:, :-1])
            # before the first frame: silence (a track that starts with a hit has an onset at 0)
            first = np.zeros_like(reference[:1]) if previous is None else previous
            before = np.concatenate([first, reference[:-1]])
            previous = reference[-1:]
            out.append(np.maximum(0.0, bands - before).mean(axis=1).astype(np.float32))
        return np.concatenate(out) if out else np.zeros(0, np.float32)

    def _joined(self, name: str, width: int = 0) -> F32:
        parts = self._parts.get(name)
        if not parts:
            return np.zeros((0, width) if width else 0, dtype=np.float32)
        return np.concatenate(parts).astype(np.float32, copy=False)

    def finish(self, power_gain: float = 1.0) -> Frames:
        """Every array; ``power_gain`` scales the power the onset envelope is compressed
        from (the analysis passes the gain that brings the track to the reference level)."""
        self.feed(np.zeros(0, np.float32), last=True)
        frames = Frames(
            sample_rate=self.sample_rate,
            hop=HOP,
            num_samples=self.num_samples,
            mel=self._joined("mel", N_MELS),
            mfcc=self._joined("mfcc", N_MFCC),
            centroid=self._joined("centroid"),
            bandwidth=self._joined("bandwidth"),
            rolloff=self._joined("rolloff"),
            flatness=self._joined("flatness"),
            rms=self._joined("rms"),
            zcr=self._joined("zcr"),
            flux=self._superflux(power_gain),
            level_gain=float(np.sqrt(power_gain)),
            pitch_hop=PITCH_HOP,
            pitch_spectrum=self._joined("pitch", N_SEMITONES * BINS_PER_SEMITONE),
        )
        _fold_chroma(frames)
        return frames


def _rolloff_bins(power: F32, fraction: float) -> npt.NDArray[np.intp]:
    """Per frame, the first bin at which the cumulative power reaches ``fraction`` of the total.

    Blocks of 32 bins are summed and accumulated first, then only the block that
    crosses the threshold: a full cumulative sum along each frame costs four times more.
    """
    count, bins = power.shape
    width = 32
    padded = np.zeros((count, -(-bins // width) * width), dtype=np.float64)
    padded[:, :bins] = power
    blocks = padded.reshape(count, -1, width)
    before = np.cumsum(blocks.sum(axis=2), axis=1)
    threshold = fraction * before[:, -1:]
    block = np.minimum((before < threshold).sum(axis=1), blocks.shape[1] - 1)
    rows = np.arange(count)
    start = np.where(block > 0, before[rows, block - 1], 0.0)
    inside = start[:, None] + np.cumsum(blocks[rows, block], axis=1)
    offset = (inside < threshold).sum(axis=1)
    return np.asarray(np.minimum(block * width + offset, bins - 1), dtype=np.intp)


def _fold_chroma(frames: Frames) -> None:
    """Estimate the tuning on the log-frequency spectrum, then fold it into chroma."""
    spectrum = frames.pitch_spectrum
    if len(spectrum) == 0:
        return
    # Tuning: which of the three sub-semitone positions holds the most peak energy.
    total = spectrum.sum(axis=0)
    peaks = (total[1:-1] > total[:-2]) & (total[1:-1] >= total[2:])
    offsets = np.zeros(BINS_PER_SEMITONE)
    for position in range(BINS_PER_SEMITONE):
        index = np.arange(position, len(total) - 1, BINS_PER_SEMITONE)
        index = index[index >= 1]
        offsets[position] = total[index][peaks[index - 1]].sum()
    shift = int(np.argmax(offsets))
    frames.tuning = [0.0, 1 / 3, -1 / 3][shift]
    # Semitone energies centred on the estimated tuning, log-compressed.
    semis = np.roll(spectrum, -shift, axis=1).reshape(len(spectrum), N_SEMITONES, BINS_PER_SEMITONE)
    semitone = semis[:, :, 0] + 0.5 * (semis[:, :, 1] + np.roll(semis, 1, axis=1)[:, :, 2])
    if shift == 2:  # centres at k + 2/3 are pitch k + 1 tuned 1/3 semitone flat
        semitone = np.roll(semitone, 1, axis=1)
    # Magnitudes from C2 to B6 (bass below C2 and harmonics above B6 blur the pitch
    # classes), log-compressed, then each frame scaled to a maximum of 1 so that loud
    # and quiet passages count alike (choices measured in benchmarks/audio_eval).
    magnitude = np.sqrt(np.maximum(semitone[:, 12:72], 0.0))
    reference = float(magnitude.max()) or 1.0
    compressed = np.log1p(10.0 * magnitude / reference)
    compressed /= compressed.max(axis=1, keepdims=True) + 1e-12
    energy = spectrum.sum(axis=1)
    compressed[energy < 1e-5 * float(energy.max(initial=0.0))] = 0.0  # > 50 dB down: no pitch
    frames.chroma = compressed.reshape(len(spectrum), 5, 12).sum(axis=1).astype(np.float32)
    # The bass, E1 to B2 (MIDI 28-47), folded the same way: which note the chord stands on.
    bass = np.sqrt(np.maximum(semitone[:, 4:24], 0.0))
    bass = np.log1p(10.0 * bass / reference)
    folded = np.zeros((len(spectrum), 12))
    for offset in range(bass.shape[1]):
        folded[:, (4 + offset) % 12] += bass[:, offset]
    folded /= folded.max(axis=1, keepdims=True) + 1e-12
    folded[energy < 1e-5 * float(energy.max(initial=0.0))] = 0.0
    frames.bass_chroma = folded.astype(np.float32)
