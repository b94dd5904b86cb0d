"""The master-key interface every key provider speaks, shaped like a cloud KMS.

A cloud KMS (AWS KMS, Google Cloud KMS, Azure Key Vault) offers two calls for
envelope encryption: *generate data key* (a fresh key, in clear and wrapped under
the master key) and *decrypt data key*. :class:`MasterKeyProvider` is that
interface, plus what operators need around it (the current key's id, rotation,
a description of the keys without their bytes). It extends :class:`KeyProvider`
(``wrap``/``unwrap``), so :class:`EnvelopeCipher` takes any of them.

Two real implementations: :class:`LocalKeyProvider` (the keyring in a file or
``ENCRYPTION_KEY``) and :class:`~backbeat.security.Pkcs11KeyProvider` (an HSM).
A cloud KMS provider would implement the same methods over its SDK.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, Protocol, runtime_checkable

from backbeat.security._envelope import KeyringKeyProvider
from backbeat.security._errors import UnknownKey
from backbeat.security._keyring import Keyring

__all__ = ["DataKey", "LocalKeyProvider", "MasterKeyInfo", "MasterKeyProvider"]

log = logging.getLogger(__name__)


class DataKey(NamedTuple):
    """A data key: ``plaintext`` to encrypt with (keep it in memory only), ``wrapped`` to store."""

    key_id: str
    plaintext: bytes
    wrapped: bytes

    def __repr__(self) -> str:
        return f"DataKey(key_id={self.key_id!r}, wrapped={len(self.wrapped)} bytes)"


@dataclass(frozen=True)
class MasterKeyInfo:
    """What can be said about a master key without revealing it."""

    key_id: str
    label: str
    current: bool
    attributes: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class MasterKeyProvider(Protocol):
    """Envelope encryption's master key: generate/decrypt data keys, rotate, describe."""

    kind: str

    def current_key_id(self) -> str: ...

    def refresh(self) -> str: ...

    def generate_data_key(self, *, context: bytes = b"") -> DataKey: ...

    def decrypt_data_key(self, wrapped: bytes, *, context: bytes = b"") -> bytes: ...

    def wrap(self, data_key: bytes, *, context: bytes) -> bytes: ...

    def unwrap(self, wrapped: bytes, *, context: bytes) -> bytes: ...

    def key_id_of(self, wrapped: bytes) -> str: ...

    def rotate(self) -> str: ...

    def keys(self) -> list[MasterKeyInfo]: ...

    def close(self) -> None: ...


class LocalKeyProvider(KeyringKeyProvider):
    """:class:`MasterKeyProvider` on a local :class:`Keyring` (AES-256-GCM wrapping, as
    :class:`KeyringKeyProvider`, whose wrapped keys it reads).

    With ``path``, :meth:`rotate` saves the keyring there (mode 0600), and a
    data key wrapped under a key this process has not seen makes it re-read the
    file once (another process rotated).
    """

    kind = "local"

    def __init__(self, keyring: Keyring, path: Path | None = None) -> None:
        super().__init__(keyring)
        self.path = path
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"LocalKeyProvider({self.keyring!r}, path={str(self.path) if self.path else None})"

    def current_key_id(self) -> str:
        return self.keyring.primary_id

    def refresh(self) -> str:
        if self.path is not None and self.path.exists():
            fresh = Keyring.from_file(self.path)
            with self._lock:
                self.keyring = fresh
        return self.keyring.primary_id

    def unwrap(self, wrapped: bytes, *, context: bytes) -> bytes:
        try:
            return super().unwrap(wrapped, context=context)
        except UnknownKey:
            if self.path is None:
                raise
            self.refresh()  # another process rotated the key file
            return super().unwrap(wrapped, context=context)

    def generate_data_key(self, *, context: bytes = b"") -> DataKey:
        plaintext = os.urandom(32)
        wrapped = self.wrap(plaintext, context=context)
        return DataKey(self.keyring.primary_id, plaintext, wrapped)

    def decrypt_data_key(self, wrapped: bytes, *, context: bytes = b"") -> bytes:
        return self.unwrap(wrapped, context=context)

    def key_id_of(self, wrapped: bytes) -> str:
        return self.keyring.key_id_of(wrapped)

    def owns(self, wrapped: bytes) -> bool:
        return wrapped[:1] == b"\x01"

    def rotate(self) -> str:
        with self._lock:
            if self.path is not None and self.path.exists():
                self.keyring = Keyring.from_file(self.path)  # rotate what is on disk
            kid = self.keyring.rotate()
            if self.path is not None:
                self.keyring.save(self.path)
        log.info("keys: rotated the local keyring; new primary %s", kid)
        return kid

    def keys(self) -> list[MasterKeyInfo]:
        primary = self.keyring.primary_id
        where = str(self.path) if self.path is not None else "ENCRYPTION_KEY"
        return [
            MasterKeyInfo(
                key_id=kid,
                label=where,
                current=kid == primary,
                attributes={"algorithm": "AES-256-GCM", "storage": "local"},
            )
            for kid in self.keyring.key_ids
        ]

    def close(self) -> None:
        return None
