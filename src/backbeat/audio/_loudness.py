"""Integrated loudness after ITU-R BS.1770-4 (EBU R128), measured while streaming.

The meter runs at the file's own rate and on its own channels (down-mixing first
would change the result: BS.1770 sums channel *powers*). K-weighting is the
standard's two biquads (high shelf +4 dB at 1682 Hz, high-pass at 38 Hz),
re-derived for any sample rate by the bilinear transform with pre-warping as
published alongside the standard. The filter is applied in the frequency domain,
per 100 ms block (Parseval: a block's mean square after filtering is the sum of
``|X_k|^2 |H_k|^2``), which is several times cheaper than running the IIR filters
sample by sample and agrees with the time-domain meter within a few hundredths
of a LU on music (checked against pyloudnorm in ``benchmarks/audio_eval``).

Gating follows the standard: 400 ms blocks overlapping by 75 % (four
consecutive 100 ms sub-blocks), absolute gate at -70 LUFS, relative gate 10 LU
below the absolutely-gated mean. The loudness range (EBU Tech 3342) uses 3 s
short-term windows, relative gate -20 LU, 10th to 95th percentile.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import scipy.fft

__all__ = ["LoudnessMeter", "k_weighting_power"]

F64 = npt.NDArray[np.float64]
SILENCE_LUFS = -100.0
"""What :meth:`LoudnessMeter.integrated` reports when no block passes the -70 LUFS gate."""


def k_weighting_power(sample_rate: int, n: int) -> F64:
    """``|H(f)|^2`` of the K-weighting filter at the ``n//2 + 1`` bins of an n-point rfft."""
    fs = float(sample_rate)
    # Stage 1: the high shelf modelling the head.
    gain_db, q, fc = 3.999843853973347, 0.7071752369554196, 1681.974450955533
    k = math.tan(math.pi * fc / fs)
    vh = 10.0 ** (gain_db / 20.0)
    vb = vh**0.4996667741545416
    a0 = 1.0 + k / q + k * k
    b_shelf = [
        (vh + vb * k / q + k * k) / a0,
        2.0 * (k * k - vh) / a0,
        (vh - vb * k / q + k * k) / a0,
    ]
    a_shelf = [1.0, 2.0 * (k * k - 1.0) / a0, (1.0 - k / q + k * k) / a0]
    # Stage 2: the RLB high-pass.
    q, fc = 0.5003270373238773, 38.13547087602444
    k = math.tan(math.pi * fc / fs)
    a0 = 1.0 + k / q + k * k
    b_hp = [1.0, -2.0, 1.0]
    a_hp = [1.0, 2.0 * (k * k - 1.0) / a0, (1.0 - k / q + k * k) / a0]
    freqs = np.arange(n // 2 + 1) * (fs / n)
    z = np.exp(-2j * np.pi * freqs / fs)  # z^-1 on the unit circle

    def response(b: list[float], a: list[float]) -> npt.NDArray[np.complex128]:
        value = (b[0] + b[1] * z + b[2] * z * z) / (a[0] + a[1] * z + a[2] * z * z)
        return np.asarray(value, dtype=np.complex128)

    h = response(b_shelf, a_shelf) * response(b_hp, a_hp)
    return np.asarray(np.abs(h) ** 2, dtype=np.float64)


def _channel_weights(channels: int) -> F64:
    if channels == 6:  # 5.1 in SMPTE order: L R C LFE Ls Rs; the LFE does not count
        return np.array([1.0, 1.0, 1.0, 0.0, 1.41, 1.41])
    return np.array([1.0 if c < 3 else 1.41 for c in range(channels)])


class LoudnessMeter:
    """Feed ``(frames, channels)`` blocks at ``sample_rate``; read loudness at the end."""

    def __init__(self, sample_rate: int, channels: int) -> None:
        self.sample_rate = sample_rate
        self.block = max(1, round(sample_rate * 0.1))
        self._weights = _channel_weights(channels)
        self._power = k_weighting_power(sample_rate, self.block)
        # One-sided spectrum: every bin but DC (and Nyquist, when n is even) stands for two.
        self._power[1:] *= 2.0
        if self.block % 2 == 0:
            self._power[-1] /= 2.0
        self._pending = np.zeros((0, channels), dtype=np.float32)
        self._energies: list[F64] = []

    def feed(self, samples: npt.NDArray[np.float32]) -> None:
        data = np.concatenate([self._pending, samples]) if len(self._pending) else samples
        usable = len(data) // self.block * self.block
        if usable:
            blocks = data[:usable].reshape(-1, self.block, data.shape[1])
            spectrum = scipy.fft.rfft(blocks, axis=1)
            power = spectrum.real**2 + spectrum.imag**2
            mean_square = np.einsum("bkc,k->bc", power, self._power) / (self.block * self.block)
            self._energies.append(mean_square.astype(np.float64) @ self._weights)
        self._pending = data[usable:].copy()

    @property
    def sub_blocks(self) -> F64:
        """Weighted K-filtered mean square of every 100 ms sub-block, in order."""
        return np.concatenate(self._energies) if self._energies else np.zeros(0)

    def gating_blocks(self) -> F64:
        """Mean square of each 400 ms gating block (75 % overlap)."""
        z = self.sub_blocks
        if len(z) < 4:
            return z[:0] if len(z) == 0 else np.array([z.mean()])
        return np.convolve(z, np.full(4, 0.25), mode="valid")

    def integrated(self) -> float:
        """Gated integrated loudness in LUFS (:data:`SILENCE_LUFS` when nothing passes)."""
        return gated_loudness(self.gating_blocks())

    def loudness_range(self) -> float:
        """EBU Tech 3342 loudness range (LU) over 3 s windows, 0.0 for short/quiet audio."""
        z = self.sub_blocks
        if len(z) < 30:
            return 0.0
        short = np.convolve(z, np.full(30, 1 / 30), mode="valid")[::10]
        levels = -0.691 + 10 * np.log10(np.maximum(short, 1e-20))
        kept = short[levels > -70.0]
        if len(kept) < 2:
            return 0.0
        relative = -0.691 + 10 * math.log10(kept.mean()) - 20.0
        kept_levels = -0.691 + 10 * np.log10(kept)
        kept_levels = kept_levels[kept_levels > relative]
        if len(kept_levels) < 2:
            return 0.0
        low, high = np.percentile(kept_levels, [10, 95])
        return float(high - low)


def gated_loudness(z: F64) -> float:
    """BS.1770 two-stage gating over 400 ms block mean squares ``z``."""
    if len(z) == 0:
        return SILENCE_LUFS
    levels = -0.691 + 10 * np.log10(np.maximum(z, 1e-20))
    z = z[levels > -70.0]
    if len(z) == 0:
        return SILENCE_LUFS
    relative = -0.691 + 10 * math.log10(z.mean()) - 10.0
    z = z[-0.691 + 10 * np.log10(z) > relative]
    return float(-0.691 + 10 * math.log10(z.mean()))
