"""Decoding any common audio file or byte stream into float32 blocks.

libsndfile (through soundfile) reads WAV/AIFF/FLAC/OGG-Vorbis/Opus without any
external program and is the fastest path for them; it gets a source only when its first
bytes name one of those containers (``_SNDFILE_MAGIC``). PyAV (FFmpeg's libraries,
linked into the wheel, no ``ffmpeg`` binary) reads everything else: MP3, AAC/M4A, WMA,
video containers' audio. MP3 goes to PyAV although libsndfile reads it: libsndfile's
MPEG decoder (libmpg123) writes "Note: Illegal Audio-MPEG-Header" lines straight to
the process's stderr on damaged or non-MPEG data, which a library must not do; FFmpeg's
logging stays off. Both are read block by block, so a one-hour file is
never held in memory: :meth:`AudioStream.blocks` yields ``(frames, channels)``
float32 arrays at the file's own rate, and :func:`resampled_mono` turns them into
mono blocks at the analysis rate with a streaming soxr resampler.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import numpy.typing as npt

from backbeat.errors import ValidationError

__all__ = [
    "ANALYSIS_RATE",
    "AudioDecodeError",
    "AudioSource",
    "AudioStream",
    "AudioTooShortError",
    "decode",
    "open_audio",
    "resampled_mono",
]

ANALYSIS_RATE = 22_050
"""Default analysis sample rate (Hz): everything musical lies below 11 kHz."""

AudioSource = str | os.PathLike[str] | bytes | bytearray | memoryview | BinaryIO
F32 = npt.NDArray[np.float32]

_BLOCK_SECONDS = 10.0


class AudioDecodeError(ValidationError):
    """The source is not audio that libsndfile or FFmpeg can decode."""

    default_code = "audio.decode_failed"
    default_message = "The audio could not be decoded."
    http_status = 422


class AudioTooShortError(ValidationError):
    """The audio decodes but is shorter than analysis needs."""

    default_code = "audio.too_short"
    default_message = "The audio is too short to analyse."
    http_status = 422


def _name(source: AudioSource) -> str:
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    return getattr(source, "name", "<stream>") if not isinstance(source, bytes) else "<bytes>"


def _decode_error(source: AudioSource, reason: str) -> AudioDecodeError:
    # ``reason`` is a stable code (not_audio, corrupt_data, empty, no_such_file,
    # no_audio_stream, no_sample_rate) for programs; people read the message.
    return AudioDecodeError(
        details={"source": Path(_name(source)).name, "reason": reason},
        message="The audio in {source} could not be decoded.",
    )


@dataclass(frozen=True, slots=True)
class _Info:
    sample_rate: int
    channels: int
    frames: int | None
    format: str


class AudioStream:
    """An opened audio source: facts from the header and a block iterator.

    Use as a context manager; :meth:`blocks` may be iterated once.
    """

    def __init__(self, backend: str, handle: Any, info: _Info, owned: Any = None) -> None:
        self._backend = backend
        self._handle = handle
        self._owned = owned
        self.sample_rate = info.sample_rate
        self.channels = info.channels
        self.frames = info.frames
        self.format = info.format

    @property
    def duration(self) -> float | None:
        """Seconds according to the header (``None`` where a container does not say)."""
        return None if self.frames is None else self.frames / self.sample_rate

    def blocks(self, seconds: float = _BLOCK_SECONDS) -> Iterator[F32]:
        """Yield ``(frames, channels)`` float32 blocks of about ``seconds`` each."""
        size = max(1, int(seconds * self.sample_rate))
        if self._backend == "soundfile":
            try:
                yield from self._handle.blocks(blocksize=size, dtype="float32", always_2d=True)
            except RuntimeError as exc:  # libsndfile errors mid-file (corrupt data)
                raise _decode_error(self._handle.name, "corrupt_data") from exc
            return
        yield from self._av_blocks(size)

    def _av_blocks(self, size: int) -> Iterator[F32]:
        import av

        container = self._handle
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="fltp", layout=stream.layout, rate=self.sample_rate)
        pending: list[F32] = []
        held = 0
        try:
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    chunk = np.ascontiguousarray(out.to_ndarray().T, dtype=np.float32)
                    pending.append(chunk)
                    held += len(chunk)
                    if held >= size:
                        yield np.concatenate(pending)
                        pending, held = [], 0
            for out in resampler.resample(None):
                pending.append(np.ascontiguousarray(out.to_ndarray().T, dtype=np.float32))
        except av.FFmpegError as exc:
            if not pending and held == 0:
                raise _decode_error(_name(container.name), "corrupt_data") from exc
            # A truncated stream: keep what decoded, as players do.
        if pending:
            yield np.concatenate(pending)

    def close(self) -> None:
        self._handle.close()
        if self._owned is not None:
            self._owned.close()

    def __enter__(self) -> AudioStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _as_file(source: AudioSource) -> tuple[Any, Any]:
    """A path or a seekable binary file for the decoders, and what we must close."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        if len(source) == 0:
            raise _decode_error(source if isinstance(source, bytes) else b"", "empty")
        buffer = io.BytesIO(bytes(source))
        return buffer, buffer
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.is_file():
            raise _decode_error(source, "no_such_file")
        if path.stat().st_size == 0:
            raise _decode_error(source, "empty")
        return os.fspath(path), None
    if not source.seekable():
        buffer = io.BytesIO(source.read())
        return buffer, buffer
    return source, None


# Containers libsndfile is asked to open: RIFF/RIFX/RF64 (WAV), IFF FORM (AIFF), FLAC, Ogg.
_SNDFILE_MAGIC = (b"RIFF", b"RIFX", b"RF64", b"FORM", b"fLaC", b"OggS")


def _head(target: Any) -> bytes:
    """The first four bytes of a path or a seekable file, the position left as it was."""
    if isinstance(target, str):
        with open(target, "rb") as f:
            return f.read(4)
    start = target.tell()
    try:
        head = target.read(4)
    finally:
        target.seek(start)
    return bytes(head) if isinstance(head, (bytes, bytearray)) else b""


def open_audio(source: AudioSource) -> AudioStream:
    """Open ``source`` (a path, bytes or a binary file object) for block reading.

    Raises :class:`AudioDecodeError` when neither libsndfile nor FFmpeg can read it.
    """
    target, owned = _as_file(source)
    if _head(target) not in _SNDFILE_MAGIC:
        return _open_av(source, target, owned)
    import soundfile

    try:
        handle = soundfile.SoundFile(target)
    except (soundfile.LibsndfileError, RuntimeError, TypeError):
        if hasattr(target, "seek"):
            target.seek(0)
    else:
        frames = handle.frames if handle.frames > 0 else None
        info = _Info(handle.samplerate, handle.channels, frames, handle.format)
        return AudioStream("soundfile", handle, info, owned)
    return _open_av(source, target, owned)


def _open_av(source: AudioSource, target: Any, owned: Any) -> AudioStream:
    import av

    try:
        container = av.open(target, mode="r")
    except (av.FFmpegError, ValueError, OSError) as exc:
        if owned is not None:
            owned.close()
        raise _decode_error(source, "not_audio") from exc
    if not container.streams.audio:
        container.close()
        raise _decode_error(source, "no_audio_stream")
    stream = container.streams.audio[0]
    rate = stream.rate or stream.codec_context.sample_rate
    if not rate:
        container.close()
        raise _decode_error(source, "no_sample_rate")
    frames = None
    if stream.duration is not None and stream.time_base is not None:
        frames = int(float(stream.duration * stream.time_base) * rate)
    elif container.duration:
        frames = int(container.duration / 1_000_000 * rate)
    channels = stream.channels or len(stream.layout.channels)
    info = _Info(int(rate), int(channels), frames, str(container.format.name).upper())
    return AudioStream("av", container, info, owned)


def resampled_mono(
    blocks: Iterator[F32], source_rate: int, target_rate: int = ANALYSIS_RATE
) -> Iterator[F32]:
    """Down-mix each block to mono and resample it to ``target_rate`` as a stream."""
    import soxr

    def mono(block: F32) -> F32:
        # A matrix-vector product: far faster than mean(axis=1) over a short last axis.
        weights = np.full(block.shape[1], 1.0 / block.shape[1], dtype=np.float32)
        return np.asarray(block @ weights, dtype=np.float32)

    if source_rate == target_rate:
        for block in blocks:
            yield mono(block)
        return
    stream = soxr.ResampleStream(source_rate, target_rate, 1, dtype="float32", quality="MQ")
    for block in blocks:
        out = stream.resample_chunk(mono(block))
        if len(out):
            yield out
    tail = stream.resample_chunk(np.zeros(0, dtype=np.float32), last=True)
    if len(tail):
        yield tail


def decode(
    source: AudioSource, sample_rate: int | None = ANALYSIS_RATE, *, mono: bool = True
) -> tuple[F32, int]:
    """Decode a whole source: ``(samples, rate)``; mono 1-D at the analysis rate by default.

    ``sample_rate=None`` keeps the file's rate; ``mono=False`` keeps channels as
    ``(frames, channels)`` (and the file's rate). For long files prefer
    :func:`backbeat.audio.analyze`, which streams.
    """
    with open_audio(source) as stream:
        if not mono:
            parts = list(stream.blocks())
            data = np.concatenate(parts) if parts else np.zeros((0, stream.channels), np.float32)
            return data, stream.sample_rate
        rate = sample_rate or stream.sample_rate
        pieces = list(resampled_mono(stream.blocks(), stream.sample_rate, rate))
    samples = np.concatenate(pieces) if pieces else np.zeros(0, np.float32)
    return samples, rate
