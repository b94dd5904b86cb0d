"""A master key inside an HSM, through PKCS#11 (python-pkcs11; SoftHSM2 in the tests).

The master key is an AES-256 secret key object in the token, created
``CKA_SENSITIVE`` and not ``CKA_EXTRACTABLE``: its bytes never leave the module.
Data keys are wrapped and unwrapped *inside* the module with ``CKM_AES_GCM`` (the
caller's context as associated data); bulk data is then encrypted locally with the
data key, so the module sees 32-byte keys, never records.

Key versions. Every version of the master key carries the same ``CKA_LABEL``
(``BACKBEAT_PKCS11_KEY_LABEL``) and an 8-byte ``CKA_ID``: a 4-byte big-endian
generation then 4 random bytes. The highest generation is the current key; rotation
creates generation + 1 in the token; older versions keep unwrapping until they are
destroyed. Any process configured with the same token therefore agrees on the
current key without a shared file.

Wrapped data key: ``0x11 | CKA_ID (8) | nonce (12) | AES-GCM(data key) + tag (48)``;
the version byte and id are authenticated with the context.

Sessions are pooled (one module login per process, as PKCS#11 defines it) and
re-opened after a session, token or module error; one operation is retried once
after re-opening. PKCS#11 logs in per application, not per session: while one
provider of a process holds a logged-in session to a token, another provider of the
same process for that token shares the login (its PIN is checked only when it is the
first). Calls into a module are serialised per process: python-pkcs11
releases the GIL during calls but does not initialise modules for OS locking, and
concurrent calls from 8 threads crashed SoftHSM2 here (a segmentation fault). One
call costs ~80 us, and with data-key caching a process makes few of them.

Why python-pkcs11 over PyKCS11: measured here on SoftHSM2, AES-GCM on a 32-byte key
ran at 11,900 ops/s through python-pkcs11 against 3,200 through PyKCS11, and
python-pkcs11 is typed and maintained (0.10.1).

Note: the nonce is drawn by the caller (``os.urandom``), which SoftHSM2 and most
modules accept; a module in a FIPS mode that insists on generating GCM IVs itself
would need ``CKM_AES_KEY_WRAP_KWP`` instead, a change confined to this file.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from backbeat.security._errors import DecryptionError, HsmError, UnknownKey
from backbeat.security._kms import DataKey, MasterKeyInfo
from backbeat.security._pkcs11_config import Pkcs11Config

__all__ = ["Pkcs11Config", "Pkcs11KeyProvider"]

log = logging.getLogger(__name__)
T = TypeVar("T")

_VERSION = b"\x11"
_ID_LEN, _NONCE_LEN, _TAG_LEN = 8, 12, 16
_HEADER_LEN = 1 + _ID_LEN
_AAD_PREFIX = b"backbeat.dek\x1f"


# Errors after which the session (or the whole module) is re-opened and the call retried.
_SESSION_ERRORS = (
    "SessionClosed",
    "SessionHandleInvalid",
    "SessionCount",
    "UserNotLoggedIn",
    "KeyHandleInvalid",
    "ObjectHandleInvalid",
)
_MODULE_ERRORS = ("DeviceRemoved", "DeviceError", "TokenNotPresent")
# What a module answers to a wrapped key that fails authentication: SoftHSM2 says
# CKR_GENERAL_ERROR for a GCM tag mismatch, others CKR_ENCRYPTED_DATA_INVALID.
_BAD_CIPHERTEXT = (
    "EncryptedDataInvalid",
    "EncryptedDataLenRange",
    "GeneralError",
    "FunctionFailed",
)


_MODULE_LOCKS: dict[str, threading.Lock] = {}
_MODULE_LOCKS_GUARD = threading.Lock()


def _module_lock(module: str) -> threading.Lock:
    with _MODULE_LOCKS_GUARD:
        return _MODULE_LOCKS.setdefault(module, threading.Lock())


class _Slot:
    """One open session and the key objects found through it (handles are per session)."""

    def __init__(self, session: Any) -> None:
        self.session = session
        self.keys: dict[bytes, Any] = {}


class Pkcs11KeyProvider:
    """:class:`~backbeat.security.MasterKeyProvider` on a PKCS#11 token.

    Thread-safe. Nothing touches the module until the first operation (or
    :meth:`check`), so building one costs nothing.
    """

    kind = "pkcs11"

    def __init__(self, config: Pkcs11Config) -> None:
        self.config = config
        self._lib: Any = None
        self._token: Any = None
        self._pool: queue.LifoQueue[_Slot] = queue.LifoQueue()
        self._open = 0
        self._lock = threading.Lock()
        self._current: bytes | None = None
        self._serial = _module_lock(config.module)

    def __repr__(self) -> str:
        return (
            f"Pkcs11KeyProvider(module={self.config.module!r}, token={self.config.token!r}, "
            f"key_label={self.config.key_label!r})"
        )

    # -- sessions -------------------------------------------------------------------------

    def _details(self, **extra: Any) -> dict[str, Any]:
        return {"module": self.config.module, "token": self.config.token, **extra}

    def _load(self) -> Any:
        try:
            import pkcs11
        except ImportError as e:
            raise HsmError(
                "security.hsm_module",
                details=self._details(reason="pip install 'backbeat[hsm]'"),
                message="Cannot load the PKCS#11 module {module}: {reason}.",
            ) from e
        if self._lib is None:
            if not Path(self.config.module).is_file():
                raise HsmError(
                    "security.hsm_module",
                    details=self._details(reason="no such file"),
                    message="Cannot load the PKCS#11 module {module}: {reason}.",
                )
            try:
                self._lib = pkcs11.lib(self.config.module)
            except pkcs11.exceptions.PKCS11Error as e:
                raise HsmError(
                    "security.hsm_module",
                    details=self._details(reason=type(e).__name__),
                    message="Cannot load the PKCS#11 module {module}: {reason}.",
                ) from None
        if self._token is None:
            try:
                self._token = self._find_token(pkcs11)
            except (pkcs11.exceptions.NoSuchToken, pkcs11.exceptions.TokenNotPresent):
                labels = sorted(
                    t.label for t in self._lib.get_tokens() if getattr(t, "label", None)
                )
                raise HsmError(
                    "security.hsm_token",
                    details=self._details(available=", ".join(labels) or "none"),
                    message=(
                        "The PKCS#11 module {module} has no token labelled {token} "
                        "(tokens present: {available})."
                    ),
                ) from None
        return pkcs11

    def _find_token(self, pkcs11: Any) -> Any:
        try:
            return self._lib.get_token(token_label=self.config.token)
        except (pkcs11.exceptions.NoSuchToken, pkcs11.exceptions.TokenNotPresent):
            # Modules list slots as of their initialisation: a token created or inserted
            # since is seen after re-initialising (other pools re-open their sessions).
            self._lib.reinitialize()
            return self._lib.get_token(token_label=self.config.token)

    def _new_slot(self) -> _Slot:
        pkcs11 = self._load()
        try:
            session = self._token.open(rw=True, user_pin=self.config.pin)
        except pkcs11.exceptions.UserAlreadyLoggedIn:
            # PKCS#11 logs in per application: another pooled session already did.
            session = self._token.open(rw=True)
        except (pkcs11.exceptions.PinIncorrect, pkcs11.exceptions.PinInvalid):
            raise HsmError(
                "security.hsm_pin",
                details=self._details(reason="PinIncorrect"),
                message="The PKCS#11 token {token} refused the PIN ({reason}).",
            ) from None
        except (pkcs11.exceptions.PinLocked, pkcs11.exceptions.PinExpired) as e:
            raise HsmError(
                "security.hsm_pin",
                details=self._details(reason=type(e).__name__),
                message="The PKCS#11 token {token} refused the PIN ({reason}).",
            ) from None
        except pkcs11.exceptions.PKCS11Error as e:
            raise self._failure(e, "open a session") from None
        return _Slot(session)

    @contextmanager
    def _slot(self) -> Iterator[_Slot]:
        try:
            slot = self._pool.get_nowait()
        except queue.Empty:
            with self._lock:
                grow = self._open < self.config.pool_size
                if grow:
                    self._open += 1
            if grow:
                try:
                    slot = self._new_slot()
                except BaseException:
                    with self._lock:
                        self._open -= 1
                    raise
            else:
                slot = self._pool.get()
        ok = False
        try:
            yield slot
            ok = True
        finally:
            if ok:
                self._pool.put(slot)
            else:
                self._discard(slot)

    def _discard(self, slot: _Slot) -> None:
        with self._lock:
            self._open -= 1
        try:
            slot.session.close()
        except Exception:  # a dead session may not even close
            log.debug("pkcs11: closing a broken session failed", exc_info=True)

    def _reset(self) -> None:
        """After a module-level error: drop every session and re-initialise the module."""
        while True:
            try:
                self._discard(self._pool.get_nowait())
            except queue.Empty:
                break
        self._token = None
        if self._lib is not None:
            try:
                self._lib.reinitialize()
            except Exception:
                log.warning("pkcs11: re-initialising %s failed", self.config.module)

    def _failure(self, exc: Exception, doing: str) -> HsmError:
        return HsmError(
            "security.hsm_error",
            details=self._details(action=doing, reason=type(exc).__name__),
            message="The PKCS#11 token {token} failed to {action}: {reason}.",
        )

    def _call(self, doing: str, op: Callable[[_Slot], T]) -> T:
        """Run ``op`` on a pooled session; re-open and retry once after a session error."""
        with self._serial:
            pkcs11 = self._load()
            return self._attempt(pkcs11, doing, op)

    def _attempt(self, pkcs11: Any, doing: str, op: Callable[[_Slot], T]) -> T:
        for attempt in (1, 2):
            try:
                with self._slot() as slot:
                    return op(slot)
            except pkcs11.exceptions.PKCS11Error as e:
                name = type(e).__name__
                if attempt == 1 and name in _SESSION_ERRORS + _MODULE_ERRORS:
                    log.warning("pkcs11: %s while trying to %s; re-opening", name, doing)
                    if name in _MODULE_ERRORS:
                        self._reset()
                    self._current = None
                    continue
                raise self._failure(e, doing) from None
        raise AssertionError("unreachable")  # pragma: no cover

    # -- keys -------------------------------------------------------------------------

    def _find(self, slot: _Slot) -> dict[bytes, Any]:
        pkcs11 = self._load()
        from pkcs11 import Attribute, KeyType, ObjectClass

        found: dict[bytes, Any] = {}
        template = {
            Attribute.CLASS: ObjectClass.SECRET_KEY,
            Attribute.KEY_TYPE: KeyType.AES,
            Attribute.LABEL: self.config.key_label,
        }
        for key in slot.session.get_objects(template):
            try:
                kid = bytes(key[Attribute.ID])
            except pkcs11.exceptions.PKCS11Error:
                continue
            if len(kid) != _ID_LEN:
                continue
            found[kid] = key
        slot.keys = found
        return found

    def _key(self, slot: _Slot, kid: bytes) -> Any:
        key = slot.keys.get(kid)
        if key is None:
            key = self._find(slot).get(kid)
            if key is None:
                raise UnknownKey(details={"key_id": kid.hex()})
            self._check_attributes(key, kid)
        return key

    def _check_attributes(self, key: Any, kid: bytes) -> None:
        from pkcs11 import Attribute

        extractable = bool(key[Attribute.EXTRACTABLE])
        sensitive = bool(key[Attribute.SENSITIVE])
        if (extractable or not sensitive) and not self.config.allow_extractable:
            raise HsmError(
                "security.hsm_extractable",
                details=self._details(label=self.config.key_label, key_id=kid.hex()),
                message=(
                    "The key {label} ({key_id}) in token {token} can leave the module "
                    "(extractable or not sensitive); backbeat refuses it unless "
                    "allow_extractable is set."
                ),
            )

    def _current_id(self, slot: _Slot) -> bytes:
        found = self._find(slot)
        if not found:
            raise HsmError(
                "security.hsm_key",
                details=self._details(label=self.config.key_label),
                message=(
                    "The PKCS#11 token {token} holds no AES key labelled {label}; "
                    "create it with `backbeat keys generate`."
                ),
            )
        kid = max(found)  # the generation is the big-endian prefix
        self._check_attributes(found[kid], kid)
        return kid

    def check(self) -> str:
        """Open the token, find the current key, check its attributes; its id."""
        self._current = self._call("find the master key", self._current_id)
        return self._current.hex()

    def current_key_id(self) -> str:
        if self._current is None:
            return self.check()
        return self._current.hex()

    def refresh(self) -> str:
        """Look for a newer key version (another process may have rotated)."""
        self._current = None
        return self.check()

    def has_key(self) -> bool:
        return bool(self._call("list keys", self._find))

    def create_key(self) -> str:
        """Create the next master-key version in the token (AES-256, sensitive, not
        extractable); it becomes current. Returns its id."""
        from pkcs11 import Attribute, KeyType

        def op(slot: _Slot) -> bytes:
            found = self._find(slot)
            generation = int.from_bytes(max(found)[:4], "big") + 1 if found else 1
            kid = generation.to_bytes(4, "big") + os.urandom(4)
            slot.session.generate_key(
                KeyType.AES,
                256,
                id=kid,
                label=self.config.key_label,
                store=True,
                template={
                    Attribute.TOKEN: True,
                    Attribute.PRIVATE: True,
                    Attribute.SENSITIVE: True,
                    Attribute.EXTRACTABLE: False,
                    Attribute.ENCRYPT: True,
                    Attribute.DECRYPT: True,
                    Attribute.WRAP: False,
                    Attribute.UNWRAP: False,
                    Attribute.MODIFIABLE: False,
                },
            )
            slot.keys = {}
            return kid

        kid = self._call("create a master key", op)
        self._current = kid
        log.info("pkcs11: created master key %s (%s)", kid.hex(), self.config.key_label)
        return kid.hex()

    def rotate(self) -> str:
        return self.create_key()

    def destroy(self, key_id: str) -> bool:
        """Delete a retired key version from the token (data still under it is lost)."""
        kid = bytes.fromhex(key_id)

        def op(slot: _Slot) -> bool:
            key = self._find(slot).get(kid)
            if key is None:
                return False
            if kid == max(slot.keys):
                raise HsmError(
                    "security.hsm_key_current",
                    details={"key_id": key_id},
                    message="Key {key_id} is the current master key; rotate before destroying it.",
                )
            key.destroy()
            slot.keys = {}
            return True

        return self._call("destroy a master key", op)

    def keys(self) -> list[MasterKeyInfo]:
        from pkcs11 import Attribute

        def op(slot: _Slot) -> list[MasterKeyInfo]:
            found = self._find(slot)
            current = max(found) if found else None
            out = []
            for kid in sorted(found, reverse=True):
                key = found[kid]
                attributes = {
                    "CKA_LABEL": key[Attribute.LABEL],
                    "CKA_KEY_TYPE": "CKK_AES",
                    "CKA_VALUE_LEN": int(key[Attribute.VALUE_LEN]),
                    "CKA_TOKEN": bool(key[Attribute.TOKEN]),
                    "CKA_PRIVATE": bool(key[Attribute.PRIVATE]),
                    "CKA_SENSITIVE": bool(key[Attribute.SENSITIVE]),
                    "CKA_EXTRACTABLE": bool(key[Attribute.EXTRACTABLE]),
                    "CKA_ALWAYS_SENSITIVE": bool(key[Attribute.ALWAYS_SENSITIVE]),
                    "CKA_NEVER_EXTRACTABLE": bool(key[Attribute.NEVER_EXTRACTABLE]),
                    "CKA_ENCRYPT": bool(key[Attribute.ENCRYPT]),
                    "CKA_DECRYPT": bool(key[Attribute.DECRYPT]),
                }
                out.append(
                    MasterKeyInfo(
                        key_id=kid.hex(),
                        label=self.config.key_label,
                        current=kid == current,
                        attributes=attributes,
                    )
                )
            return out

        return self._call("list keys", op)

    # -- wrapping ---------------------------------------------------------------------

    def wrap(self, data_key: bytes, *, context: bytes) -> bytes:
        from pkcs11 import Mechanism
        from pkcs11.mechanisms import GCMParams

        def op(slot: _Slot) -> bytes:
            kid = self._current if self._current is not None else self._current_id(slot)
            self._current = kid
            header = _VERSION + kid
            nonce = os.urandom(_NONCE_LEN)
            params = GCMParams(nonce, _AAD_PREFIX + header + context, _TAG_LEN * 8)
            body = self._key(slot, kid).encrypt(
                data_key, mechanism=Mechanism.AES_GCM, mechanism_param=params
            )
            return header + nonce + bytes(body)

        return self._call("wrap a data key", op)

    def unwrap(self, wrapped: bytes, *, context: bytes) -> bytes:
        from pkcs11 import Mechanism
        from pkcs11.exceptions import PKCS11Error
        from pkcs11.mechanisms import GCMParams

        kid = self._parse(wrapped)
        header = wrapped[:_HEADER_LEN]
        nonce = wrapped[_HEADER_LEN : _HEADER_LEN + _NONCE_LEN]
        params = GCMParams(nonce, _AAD_PREFIX + header + context, _TAG_LEN * 8)

        def op(slot: _Slot) -> bytes:
            key = self._key(slot, kid)
            try:
                plain = key.decrypt(
                    wrapped[_HEADER_LEN + _NONCE_LEN :],
                    mechanism=Mechanism.AES_GCM,
                    mechanism_param=params,
                )
            except PKCS11Error as e:
                if type(e).__name__ in _BAD_CIPHERTEXT:
                    raise DecryptionError() from None
                raise
            return bytes(plain)

        return self._call("unwrap a data key", op)

    def generate_data_key(self, *, context: bytes = b"") -> DataKey:
        plaintext = os.urandom(32)
        wrapped = self.wrap(plaintext, context=context)
        return DataKey(self.key_id_of(wrapped), plaintext, wrapped)

    def decrypt_data_key(self, wrapped: bytes, *, context: bytes = b"") -> bytes:
        return self.unwrap(wrapped, context=context)

    def key_id_of(self, wrapped: bytes) -> str:
        return self._parse(wrapped).hex()

    def owns(self, wrapped: bytes) -> bool:
        return len(wrapped) >= _HEADER_LEN and wrapped[:1] == _VERSION

    @staticmethod
    def _parse(wrapped: bytes) -> bytes:
        if len(wrapped) < _HEADER_LEN + _NONCE_LEN + _TAG_LEN or wrapped[:1] != _VERSION:
            raise DecryptionError("security.malformed_token")
        return bytes(wrapped[1:_HEADER_LEN])

    def close(self) -> None:
        """Close the pooled sessions (the module stays loaded for this process)."""
        with self._serial:
            while True:
                try:
                    self._discard(self._pool.get_nowait())
                except queue.Empty:
                    break
