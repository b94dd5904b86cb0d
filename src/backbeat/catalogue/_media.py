"""The media store: audio files kept under their SHA-256, written once, never in memory whole.

Every way audio enters the catalogue goes through :class:`MediaStore`: an HTTP
upload (chunks from the request body), a file named on the server
(``BACKBEAT_MEDIA_ROOT``) and ``backbeat import``. Each is streamed to a
temporary file in ``<root>/tmp`` while it is hashed and its size checked against
``max_bytes``, checked to be decodable audio, then moved (atomically, same file
system) to ``<root>/<sha[:2]>/<sha><suffix>``. Storing the same audio twice is a
no-op that returns the same path. Paths handed back are relative to the root and
resolving one that leaves the root is refused.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import anyio

from backbeat.errors import ValidationError

__all__ = ["CHUNK", "MediaPathRefused", "MediaStore", "StoredMedia", "UploadTooLarge"]

CHUNK = 1 << 20
_SUFFIX = re.compile(r"\.[a-z0-9]{1,5}")


class UploadTooLarge(ValidationError):
    default_code = "validation.upload_too_large"
    default_message = "The upload is larger than {limit_mb} MB."
    http_status = 413


class MediaPathRefused(ValidationError):
    default_code = "validation.media_path"
    default_message = "The media path is outside the media folder."


@dataclass(frozen=True, slots=True)
class StoredMedia:
    """Where stored audio lives (relative to the store's root), its SHA-256 and size."""

    path: str
    sha256: str
    size: int


def _display(name: str | None) -> str:
    """The name a person gave the file, for messages (never our temporary name)."""
    base = Path(name or "").name
    return base or "upload"


class MediaStore:
    """Content-addressed audio under ``root``; ``max_bytes`` bounds every write (None: none).

    Thread-safe and process-safe: writers use private temporary files and
    ``os.replace``. The sync methods do file I/O and belong in a worker thread when
    called from async code; :meth:`save_stream` does that itself.
    """

    def __init__(self, root: Path, *, max_bytes: int | None = None) -> None:
        self.root = root.resolve()
        self.max_bytes = max_bytes

    def _tmp(self) -> Path:
        tmp = self.root / "tmp"
        tmp.mkdir(parents=True, exist_ok=True)
        return tmp

    def path(self, relative: str) -> Path:
        """The absolute path of stored audio; refuses anything outside the root."""
        path = (self.root / relative).resolve()
        if self.root not in path.parents:
            raise MediaPathRefused(details={"path": relative})
        return path

    # -- writing -------------------------------------------------------------------

    def _too_large(self) -> UploadTooLarge:
        limit_mb = (self.max_bytes or 0) / (1024 * 1024)
        return UploadTooLarge(details={"limit_mb": round(limit_mb, 2)})

    def _place(self, temp: Path, sha: str, size: int, name: str | None) -> StoredMedia:
        """Check ``temp`` is audio (named as the user named it), move it to its address."""
        from backbeat.audio import AudioDecodeError, open_audio

        shown = _display(name)
        if size == 0:
            raise AudioDecodeError(
                details={"source": shown, "reason": "empty"}, message="The file {source} is empty."
            )
        try:
            with open_audio(temp):
                pass
        except AudioDecodeError as exc:
            raise AudioDecodeError(
                details={**exc.details, "source": shown},
                message="The audio in {source} could not be decoded.",
            ) from None
        suffix = Path(name or "").suffix.lower()
        suffix = suffix if _SUFFIX.fullmatch(suffix) else ".bin"
        relative = f"{sha[:2]}/{sha}{suffix}"
        target = self.root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(temp, target)
        return StoredMedia(relative, sha, size)

    def _write(self, chunks: Iterator[bytes], name: str | None) -> StoredMedia:
        fd, temp_name = tempfile.mkstemp(prefix="in-", dir=self._tmp())
        temp = Path(temp_name)
        try:
            digest, size = hashlib.sha256(), 0
            with os.fdopen(fd, "wb") as out:
                for chunk in chunks:
                    size += len(chunk)
                    if self.max_bytes is not None and size > self.max_bytes:
                        raise self._too_large()
                    digest.update(chunk)
                    out.write(chunk)
            return self._place(temp, digest.hexdigest(), size, name)
        finally:
            temp.unlink(missing_ok=True)

    def copy_file(self, source: Path, *, name: str | None = None) -> StoredMedia:
        """Stream a local file into the store (``backbeat import``, server-side paths).

        Raises ``FileNotFoundError``/``IsADirectoryError``/``PermissionError`` naming
        ``source``, :class:`UploadTooLarge`, or ``AudioDecodeError`` naming the file.
        """
        if self.max_bytes is not None and source.stat().st_size > self.max_bytes:
            raise self._too_large()
        with source.open("rb") as inp:
            return self._write(iter(lambda: inp.read(CHUNK), b""), name or source.name)

    def copy_from(self, media_root: Path | None, relative: str) -> StoredMedia:
        """Copy the file ``relative`` to ``media_root`` (a server folder) into the store.

        Refuses (``validation.media_path``) a path outside ``media_root``, a missing
        file, or no ``media_root`` at all.
        """
        if media_root is None:
            raise MediaPathRefused(details={"path": relative})
        base = media_root.resolve()
        source = (base / relative).resolve()
        if base not in source.parents or not source.is_file():
            raise MediaPathRefused(details={"path": relative})
        return self.copy_file(source)

    async def save_stream(
        self, chunks: AsyncIterator[bytes], *, name: str | None = None
    ) -> StoredMedia:
        """Stream chunks (an upload's body) into the store without blocking the event loop."""
        fd, temp_name = await anyio.to_thread.run_sync(
            lambda: tempfile.mkstemp(prefix="up-", dir=self._tmp())
        )
        os.close(fd)
        temp = anyio.Path(temp_name)
        try:
            digest, size = hashlib.sha256(), 0
            async with await anyio.open_file(temp_name, "wb") as out:
                async for chunk in chunks:
                    size += len(chunk)
                    if self.max_bytes is not None and size > self.max_bytes:
                        raise self._too_large()
                    digest.update(chunk)
                    await out.write(chunk)
            sha = digest.hexdigest()
            return await anyio.to_thread.run_sync(self._place, Path(temp_name), sha, size, name)
        finally:
            await temp.unlink(missing_ok=True)
