"""Envelope encryption: a data key per record, wrapped by a key-encryption key.

Each record (a user, an account) gets its own random AES-256 data key (DEK).
Its data is encrypted under the DEK; the DEK is stored only *wrapped* by a
key-encryption key (KEK) from a :class:`KeyProvider`: the local
:class:`~backbeat.security.Keyring` now, an HSM or cloud KMS later through the
same protocol. Two properties follow:

- **crypto-shredding**: :meth:`EnvelopeCipher.shred` deletes the wrapped DEK,
  and every copy of the record's data (backups included) becomes unreadable,
  which is how erasure requests reach data that cannot be rewritten;
- **cheap KEK rotation**: :meth:`EnvelopeCipher.rewrap` re-wraps a DEK under the
  current KEK without touching the data.

Data token: ``0x02 | nonce (12) | ciphertext | tag (16)``, base64url, with the
record id and your associated data authenticated.
"""

from __future__ import annotations

import os
import threading
from typing import Protocol, runtime_checkable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from backbeat.security._errors import DecryptionError, KeyDestroyed
from backbeat.security._keyring import Keyring, b64url_decode, b64url_encode

__all__ = [
    "DataKeyStore",
    "EnvelopeCipher",
    "KeyProvider",
    "KeyringKeyProvider",
    "MemoryDataKeyStore",
]

_VERSION = b"\x02"


@runtime_checkable
class KeyProvider(Protocol):
    """Wraps and unwraps data keys under a key-encryption key it never reveals."""

    def wrap(self, data_key: bytes, *, context: bytes) -> bytes: ...

    def unwrap(self, wrapped: bytes, *, context: bytes) -> bytes: ...


class KeyringKeyProvider:
    """:class:`KeyProvider` on a local :class:`Keyring` (AES-256-GCM key wrapping)."""

    def __init__(self, keyring: Keyring) -> None:
        self.keyring = keyring

    def wrap(self, data_key: bytes, *, context: bytes) -> bytes:
        return self.keyring.encrypt(data_key, associated_data=b"dek\x1f" + context)

    def unwrap(self, wrapped: bytes, *, context: bytes) -> bytes:
        return self.keyring.decrypt(wrapped, associated_data=b"dek\x1f" + context)

    def is_current(self, wrapped: bytes) -> bool:
        return self.keyring.key_id_of(wrapped) == self.keyring.primary_id


@runtime_checkable
class DataKeyStore(Protocol):
    """Where wrapped data keys live (a table in the database, in production)."""

    def get(self, record_id: str) -> bytes | None: ...

    def put(self, record_id: str, wrapped: bytes) -> None: ...

    def delete(self, record_id: str) -> bool: ...


class MemoryDataKeyStore:
    """In-process :class:`DataKeyStore` (tests, single-process tools)."""

    def __init__(self) -> None:
        self._keys: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def get(self, record_id: str) -> bytes | None:
        return self._keys.get(record_id)

    def put(self, record_id: str, wrapped: bytes) -> None:
        with self._lock:
            self._keys[record_id] = wrapped

    def delete(self, record_id: str) -> bool:
        with self._lock:
            return self._keys.pop(record_id, None) is not None


class EnvelopeCipher:
    """Per-record data keys under a KEK; see the module docstring.

    A record's data key is created on its first :meth:`encrypt`. After
    :meth:`shred`, :meth:`decrypt` raises :class:`KeyDestroyed` and a new
    :meth:`encrypt` starts a *new* key (old data stays unreadable).
    """

    def __init__(self, provider: KeyProvider, store: DataKeyStore | None = None) -> None:
        self.provider = provider
        self.store: DataKeyStore = store if store is not None else MemoryDataKeyStore()
        self._lock = threading.Lock()

    @staticmethod
    def _context(record_id: str) -> bytes:
        return record_id.encode()

    def _data_key(self, record_id: str, *, create: bool) -> bytes:
        with self._lock:
            wrapped = self.store.get(record_id)
            if wrapped is None:
                if not create:
                    raise KeyDestroyed(details={"record_id": record_id})
                dek = AESGCM.generate_key(bit_length=256)
                self.store.put(record_id, self.provider.wrap(dek, context=self._context(record_id)))
                return dek
        return self.provider.unwrap(wrapped, context=self._context(record_id))

    def encrypt(
        self, record_id: str, plaintext: bytes | str, *, associated_data: bytes = b""
    ) -> str:
        data = plaintext.encode() if isinstance(plaintext, str) else plaintext
        dek = self._data_key(record_id, create=True)
        nonce = os.urandom(12)
        aad = _VERSION + self._context(record_id) + b"\x1f" + associated_data
        return b64url_encode(_VERSION + nonce + AESGCM(dek).encrypt(nonce, data, aad))

    def decrypt(self, record_id: str, token: str | bytes, *, associated_data: bytes = b"") -> bytes:
        dek = self._data_key(record_id, create=False)
        try:
            raw = b64url_decode(token)
        except ValueError:
            raise DecryptionError("security.malformed_token") from None
        if len(raw) < 1 + 12 + 16 or raw[:1] != _VERSION:
            raise DecryptionError("security.malformed_token")
        aad = _VERSION + self._context(record_id) + b"\x1f" + associated_data
        try:
            return AESGCM(dek).decrypt(raw[1:13], raw[13:], aad)
        except InvalidTag:
            raise DecryptionError() from None

    def shred(self, record_id: str) -> bool:
        """Destroy the record's data key; every ciphertext of the record becomes noise."""
        with self._lock:
            return self.store.delete(record_id)

    def rewrap(self, record_id: str) -> None:
        """Re-wrap the record's data key under the provider's current KEK."""
        with self._lock:
            wrapped = self.store.get(record_id)
            if wrapped is None:
                raise KeyDestroyed(details={"record_id": record_id})
            context = self._context(record_id)
            dek = self.provider.unwrap(wrapped, context=context)
            self.store.put(record_id, self.provider.wrap(dek, context=context))
