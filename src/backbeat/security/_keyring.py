"""``Keyring``: versioned AES-256-GCM keys with rotation, and the field helpers.

Token format (``encrypt`` returns these bytes; ``encrypt_text`` the same as
base64url without padding, for text columns, JSON and URLs)::

    0x01 | key id (4 bytes) | nonce (12 bytes) | ciphertext | GCM tag (16 bytes)

``decrypt`` takes either: ``bytes`` are a binary token, ``str`` a text one.

The version byte and key id are authenticated too (they are prepended to the
associated data), so no header byte can be changed unnoticed. A key id is the
first 4 bytes of HMAC-SHA256(key, "backbeat key id"): stable whatever order
the keys are listed in, and revealing nothing about the key.

**Message limit.** Nonces are 96 random bits. NIST SP 800-38D (section 8.3)
caps a key used with random nonces at 2**32 encryptions, keeping the chance of
a repeated nonce (which breaks GCM) below 2**-32. The keyring counts encryptions
per key in this process and logs a warning at 2**30; across a fleet, rotate on
a schedule well inside the cap (e.g. monthly, or every 2**30 messages):
:meth:`Keyring.rotate` makes a new primary, old keys still decrypt, and
:meth:`Keyring.reencrypt` moves stored data to the primary so old keys can be
dropped (:meth:`Keyring.remove`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import os
import threading
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from backbeat.errors import ConfigurationError, ValidationError
from backbeat.security._errors import DecryptionError, UnknownKey

__all__ = [
    "Keyring",
    "b64url_decode",
    "b64url_encode",
    "decrypt_sensitive_data",
    "encrypt_sensitive_data",
]

log = logging.getLogger(__name__)

_VERSION = b"\x01"
_KID_LEN, _NONCE_LEN, _TAG_LEN = 4, 12, 16
_HEADER_LEN = 1 + _KID_LEN
_WARN_AT = 2**30


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str | bytes) -> bytes:
    raw = text.encode("ascii") if isinstance(text, str) else text
    return base64.urlsafe_b64decode(raw + b"=" * (-len(raw) % 4))


def _as_bytes(value: str | bytes, what: str) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    raise ValidationError(
        "validation.bytes_expected",
        details={"what": what, "type": type(value).__name__},
        message="{what} must be bytes or str, not {type}.",
    )


def key_id(key: bytes) -> str:
    """The public 8-hex-digit id of a key."""
    return hmac.new(key, b"backbeat key id", hashlib.sha256).digest()[:_KID_LEN].hex()


class Keyring:
    """Versioned 256-bit keys: one primary encrypts, every key decrypts.

    Build with :meth:`generate`, :meth:`from_string` (``ENCRYPTION_KEY``'s
    comma-separated base64url keys, primary first) or :meth:`from_file`.
    Thread-safe. ``repr`` shows key ids only.
    """

    def __init__(self, keys: Sequence[bytes]) -> None:
        if not keys:
            raise ConfigurationError(
                "config.empty_keyring", message="A keyring needs at least one key."
            )
        self._keys: dict[str, bytes] = {}
        self._order: list[str] = []  # primary first
        self._uses: dict[str, int] = {}
        self._aeads: dict[str, AESGCM] = {}
        self._lock = threading.Lock()
        for key in keys:
            self._add(key, primary=False)

    def _add(self, key: bytes, *, primary: bool) -> str:
        if not isinstance(key, bytes) or len(key) != 32:
            raise ConfigurationError(
                "config.bad_key", message="Keyring keys must be exactly 32 bytes (256 bits)."
            )
        kid = key_id(key)
        if kid not in self._keys:
            self._keys[kid] = key
            if primary:
                self._order.insert(0, kid)
            else:
                self._order.append(kid)
        elif primary:
            self._order.remove(kid)
            self._order.insert(0, kid)
        return kid

    # -- construction and export -------------------------------------------------------

    @classmethod
    def generate(cls) -> Keyring:
        """A keyring with one new random key (``os.urandom``)."""
        return cls([os.urandom(32)])

    @classmethod
    def from_string(cls, text: str, *, variable: str = "ENCRYPTION_KEY") -> Keyring:
        """Parse comma-separated base64url keys, primary first.

        A malformed value raises ``ConfigurationError`` naming ``variable``,
        without echoing it.
        """
        items = [s.strip() for s in text.replace("\n", ",").split(",") if s.strip()]
        keys = []
        for item in items:
            try:
                raw = b64url_decode(item)
            except (binascii.Error, ValueError, UnicodeEncodeError):
                raw = b""
            if len(raw) != 32:
                raise ConfigurationError(
                    "config.bad_encryption_key",
                    details={"variable": variable},
                    message=(
                        "{variable} is invalid: expected one or more comma-separated "
                        "base64url-encoded 32-byte keys."
                    ),
                )
            keys.append(raw)
        if not keys:
            raise ConfigurationError(
                "config.bad_encryption_key",
                details={"variable": variable},
                message="{variable} is empty: expected at least one base64url 32-byte key.",
            )
        return cls(keys)

    @classmethod
    def from_file(cls, path: str | Path) -> Keyring:
        """Read a key file: base64url keys, one per line (or comma-separated), primary first."""
        p = Path(path)
        try:
            text = p.read_text()
        except FileNotFoundError as e:
            raise ConfigurationError(
                "config.key_file",
                details={"path": str(p)},
                message=(
                    "Cannot read the key file {path}: it does not exist. Create one with "
                    "`backbeat keys generate`, or point ENCRYPTION_KEY_FILE at yours."
                ),
            ) from e
        except OSError as e:
            raise ConfigurationError(
                "config.key_file",
                details={"path": str(p), "reason": e.strerror or type(e).__name__},
                message="Cannot read the key file {path} ({reason}).",
            ) from e
        return cls.from_string(text, variable=f"key file {p}")

    def export(self) -> str:
        """All keys as ``ENCRYPTION_KEY`` expects them (SECRET: handle like a password)."""
        with self._lock:
            return ",".join(b64url_encode(self._keys[k]) for k in self._order)

    def save(self, path: str | Path) -> None:
        """Write the keys to ``path`` (mode 0600, replaced atomically)."""
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_name(p.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(self.export().replace(",", "\n") + "\n")
        os.replace(tmp, p)

    # -- keys ----------------------------------------------------------------------------

    @property
    def primary_id(self) -> str:
        return self._order[0]

    @property
    def key_ids(self) -> tuple[str, ...]:
        """Key ids, primary first."""
        return tuple(self._order)

    def rotate(self) -> str:
        """Add a new random key as primary; older keys keep decrypting. Returns its id."""
        with self._lock:
            return self._add(os.urandom(32), primary=True)

    def add(self, key: bytes, *, primary: bool = False) -> str:
        """Add an existing key (e.g. from another keyring). Returns its id."""
        with self._lock:
            return self._add(key, primary=primary)

    def remove(self, kid: str) -> None:
        """Forget a key: data still under it becomes unreadable. The primary cannot go."""
        with self._lock:
            if kid == self._order[0]:
                raise ValidationError(
                    "validation.remove_primary",
                    details={"key_id": kid},
                    message="Key {key_id} is the primary; rotate before removing it.",
                )
            if kid in self._keys:
                del self._keys[kid]
                self._aeads.pop(kid, None)
                self._order.remove(kid)

    def derive(self, purpose: bytes, *, kid: str | None = None) -> tuple[str, bytes]:
        """A 32-byte subkey for ``purpose`` from key ``kid`` (default: the primary).

        HKDF-SHA256 (RFC 5869) with ``purpose`` as info: independent keys for
        independent uses (audit MACs, signing seeds) from one keyring, rotating
        with it. Returns ``(kid, subkey)``; ``UnknownKey`` if ``kid`` is not here.
        """
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.kdf.hkdf import HKDF

        with self._lock:
            kid = kid or self._order[0]
            key = self._keys.get(kid)
        if key is None:
            raise UnknownKey(details={"key_id": kid})
        hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"backbeat", info=purpose)
        return kid, hkdf.derive(key)

    def __contains__(self, kid: object) -> bool:
        return kid in self._keys

    def __repr__(self) -> str:
        return f"Keyring(primary={self.primary_id!r}, keys={len(self._order)})"

    # -- AEAD ------------------------------------------------------------------------------

    def _aead(self, kid: str) -> AESGCM:
        # One AESGCM object per key: building one expands the key schedule.
        aead = self._aeads.get(kid)
        if aead is None:
            aead = self._aeads[kid] = AESGCM(self._keys[kid])
        return aead

    def encrypt(self, plaintext: bytes | str, *, associated_data: bytes | str = b"") -> bytes:
        """AES-256-GCM under the primary key: a binary token (see the module docstring).

        ``associated_data`` is authenticated, not stored: pass the same to ``decrypt``.
        """
        data = _as_bytes(plaintext, "plaintext")
        aad = _as_bytes(associated_data, "associated_data")
        with self._lock:
            kid = self._order[0]
            aead = self._aead(kid)
            uses = self._uses[kid] = self._uses.get(kid, 0) + 1
        if uses == _WARN_AT:
            log.warning("key %s has encrypted 2**30 messages in this process: rotate it", kid)
        header = _VERSION + bytes.fromhex(kid)
        nonce = os.urandom(_NONCE_LEN)
        return header + nonce + aead.encrypt(nonce, data, header + aad)

    def encrypt_text(self, plaintext: bytes | str, *, associated_data: bytes | str = b"") -> str:
        """:meth:`encrypt` as base64url text (for text columns, JSON, URLs)."""
        return b64url_encode(self.encrypt(plaintext, associated_data=associated_data))

    def decrypt(self, token: bytes | str, *, associated_data: bytes | str = b"") -> bytes:
        """The plaintext; ``DecryptionError`` for anything tampered, truncated or misbound."""
        aad = _as_bytes(associated_data, "associated_data")
        raw = self._parse(token)
        kid = raw[1:_HEADER_LEN].hex()
        with self._lock:
            aead = self._aead(kid) if kid in self._keys else None
        if aead is None:
            raise UnknownKey(details={"key_id": kid})
        nonce = raw[_HEADER_LEN : _HEADER_LEN + _NONCE_LEN]
        try:
            body = memoryview(raw)[_HEADER_LEN + _NONCE_LEN :]  # no copy of large payloads
            return aead.decrypt(nonce, body, raw[:_HEADER_LEN] + aad)
        except InvalidTag:
            raise DecryptionError() from None

    def reencrypt(self, token: bytes | str, *, associated_data: bytes | str = b"") -> bytes | str:
        """The same plaintext under the primary key, in the token's form (bytes or text).

        Returns ``token`` itself when it is already under the primary (after
        authenticating it).
        """
        plaintext = self.decrypt(token, associated_data=associated_data)
        if self.key_id_of(token) == self.primary_id:
            return token
        if isinstance(token, str):
            return self.encrypt_text(plaintext, associated_data=associated_data)
        return self.encrypt(plaintext, associated_data=associated_data)

    def key_id_of(self, token: str | bytes) -> str:
        """Which key a token was made with (no decryption)."""
        return self._parse(token)[1:_HEADER_LEN].hex()

    @staticmethod
    def _parse(token: str | bytes) -> bytes:
        if isinstance(token, bytes):
            raw = token
        elif isinstance(token, str):
            try:
                raw = b64url_decode(token)
            except (binascii.Error, ValueError, UnicodeEncodeError):
                raise DecryptionError("security.malformed_token") from None
        else:
            raise DecryptionError("security.malformed_token")
        if len(raw) < _HEADER_LEN + _NONCE_LEN + _TAG_LEN or raw[:1] != _VERSION:
            raise DecryptionError("security.malformed_token")
        return raw


# -- field helpers (the seed's encrypt_sensitive_data) --------------------------------------


def _keyring_of(key: Keyring | bytes | str) -> Keyring:
    if isinstance(key, Keyring):
        return key
    if isinstance(key, bytes):
        return Keyring([key])
    if isinstance(key, str):
        return Keyring.from_string(key, variable="the key argument")
    raise ValidationError(
        "validation.key_type",
        details={"type": type(key).__name__},
        message="A key must be a Keyring, 32 raw bytes or a base64url string, not {type}.",
    )


def _field_aad(record_id: str, field: str) -> bytes:
    # The unit separator cannot appear in either part unnoticed: lengths are bound too.
    return f"backbeat.field\x1f{len(record_id)}:{record_id}\x1f{field}".encode()


def encrypt_sensitive_data(
    data: Mapping[str, Any],
    key: Keyring | bytes | str,
    *,
    record_id: str = "",
    fields: Iterable[str] | None = None,
) -> dict[str, Any]:
    """Encrypt each field's JSON value, bound to its field name and ``record_id``.

    Returns a new dict whose selected fields (all by default) hold text tokens. A
    token moved to another field or another record fails to decrypt, so an
    attacker with write access to the table cannot swap values around.
    """
    ring = _keyring_of(key)
    chosen = set(data) if fields is None else set(fields)
    out = dict(data)
    for name in chosen & set(data):
        plaintext = json.dumps(data[name], separators=(",", ":"), ensure_ascii=False)
        out[name] = ring.encrypt_text(plaintext, associated_data=_field_aad(record_id, name))
    return out


def decrypt_sensitive_data(
    data: Mapping[str, Any],
    key: Keyring | bytes | str,
    *,
    record_id: str = "",
    fields: Iterable[str] | None = None,
) -> dict[str, Any]:
    """Inverse of :func:`encrypt_sensitive_data` (same ``record_id`` and fields)."""
    ring = _keyring_of(key)
    chosen = set(data) if fields is None else set(fields)
    out = dict(data)
    for name in chosen & set(data):
        plaintext = ring.decrypt(data[name], associated_data=_field_aad(record_id, name))
        out[name] = json.loads(plaintext)
    return out
