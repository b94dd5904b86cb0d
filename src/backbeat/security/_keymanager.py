"""``KeyManager``: envelope encryption of user data under a rotating master key.

The seed's ``create_key_manager()``, ``configure_hsm(...)`` and
``encrypt_user_data(data, algorithm="AES-256-GCM", key_rotation=True)``.

How a record is encrypted: a data key (AES-256) is generated and wrapped by the
master key of the configured provider (the local keyring, or a PKCS#11 module where
the master key never leaves the hardware); the record is encrypted locally with the
data key; the token carries the master key's id and the *wrapped* data key, so any
process configured with the same provider decrypts it.

Data-key caching (what makes an HSM affordable): a data key is reused for at most
``data_key_max_messages`` records and ``data_key_max_age_s`` seconds in one process
(the AWS Encryption SDK's caching model), and unwrapped data keys are kept in a
bounded LRU for decryption. Each data key is random, used in one process only, and
capped far below GCM's limit.

Rotation policy. The master key rotates when it is older than ``max_age`` or has
wrapped ``max_encryptions`` data keys. NIST SP 800-38D section 8.3 caps a key used
with random 96-bit nonces at 2**32 invocations; the default cap, 2**30, keeps a 4x
margin (the chance of any repeated nonce stays below 2**-37). Usage counters live
in the database (``encryption_keys``), shared by every process; a process reads and
bumps them when it wraps a data key, and rotation is a compare-and-set there, so
two processes reaching the limit together rotate once.

Token (base64url text)::

    0x03 | flags (1) | len(key id) (1) | key id | len(wrapped) (2) | wrapped data key
         | nonce (12) | ciphertext + tag (16)

Everything before the nonce, and the caller's ``associated_data``, is authenticated.
``flags`` bit 0 says the plaintext was JSON (a dict in gives the dict back).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from backbeat.errors import ValidationError
from backbeat.security._errors import DecryptionError
from backbeat.security._keyring import Keyring, b64url_decode, b64url_encode
from backbeat.security._keyusage import (
    KeyStatus,
    KeyUsageStore,
    MemoryKeyUsageStore,
    RotationPolicy,
    SqlKeyUsageStore,
    utcnow,
)
from backbeat.security._kms import LocalKeyProvider, MasterKeyProvider

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from backbeat.settings import Settings

__all__ = [
    "ALGORITHM",
    "KeyManager",
    "create_key_manager",
    "local_keyring",
    "policy_from_settings",
    "provider_from_settings",
]

log = logging.getLogger(__name__)

ALGORITHM = "AES-256-GCM"
_VERSION = 0x03
_FLAG_JSON = 0x01
_NONCE_LEN, _TAG_LEN = 12, 16


class _CachedKey:
    __slots__ = ("aead", "expires", "header", "key_id", "remaining")

    def __init__(self, key_id: str, aead: AESGCM, header: bytes, expires: float, uses: int):
        self.key_id = key_id
        self.aead = aead
        self.header = header
        self.expires = expires
        self.remaining = uses


class KeyManager:
    """Envelope encryption with a master key from a :class:`MasterKeyProvider`.

    ``usage`` shares key states and counters between processes (the database with
    :func:`create_key_manager`); ``clock`` is injectable for tests.
    """

    def __init__(
        self,
        provider: MasterKeyProvider,
        usage: KeyUsageStore | None = None,
        policy: RotationPolicy | None = None,
        *,
        clock: Callable[[], dt.datetime] = utcnow,
        decrypt_cache_size: int = 4096,
    ) -> None:
        self._provider = provider
        self.usage: KeyUsageStore = usage if usage is not None else MemoryKeyUsageStore()
        self.policy = policy or RotationPolicy()
        self.clock = clock
        self._cached: _CachedKey | None = None
        # wrapped data key -> (its AEAD, the key, its re-wrap under a newer master key)
        self._unwrapped: OrderedDict[bytes, tuple[AESGCM, bytes]] = OrderedDict()
        self._rewrapped: OrderedDict[bytes, bytes] = OrderedDict()
        self._cache_size = decrypt_cache_size
        self._lock = threading.Lock()
        self._checked_at = 0.0
        self._rotation_due = False

    def __repr__(self) -> str:
        return f"KeyManager({self._provider!r})"

    @property
    def provider(self) -> MasterKeyProvider:
        return self._provider

    # -- configuration --------------------------------------------------------------

    async def configure_hsm(self, hsm_config: Mapping[str, Any]) -> dict[str, Any]:
        """Switch to a PKCS#11 module: ``module``, ``token``, ``pin`` or ``pin_file``,
        ``key_label`` (as the ``BACKBEAT_PKCS11_*`` variables). The token and key are
        checked before the switch; with ``create_key=True`` a missing key is created.
        Data encrypted under the previous provider needs that provider to decrypt."""
        import anyio

        from backbeat.security._pkcs11 import Pkcs11Config, Pkcs11KeyProvider

        options = dict(hsm_config)
        create = bool(options.pop("create_key", False))
        provider = Pkcs11KeyProvider(Pkcs11Config.from_mapping(options))
        if create and not await anyio.to_thread.run_sync(provider.has_key):
            await anyio.to_thread.run_sync(provider.create_key)
        key_id = await anyio.to_thread.run_sync(provider.check)
        old, self._provider = self._provider, provider
        self._forget_keys()
        old.close()
        await self.usage.register(key_id, provider.kind, self.clock())
        return {"provider": provider.kind, "key_id": key_id, "key_label": provider.config.key_label}

    def _forget_keys(self) -> None:
        with self._lock:
            self._cached = None
            self._unwrapped.clear()
            self._rewrapped.clear()
            self._checked_at = 0.0

    # -- encryption -----------------------------------------------------------------

    async def encrypt_user_data(
        self,
        user_data: Any,
        algorithm: str = ALGORITHM,
        key_rotation: bool = True,
        *,
        associated_data: bytes = b"",
    ) -> str:
        """Encrypt ``user_data`` (bytes, str, or anything JSON-serialisable) into a
        self-describing token. With ``key_rotation`` the rotation policy is applied
        (a due master key rotates before use)."""
        if algorithm.upper().replace("_", "-") != ALGORITHM:
            raise ValidationError(
                "validation.invalid",
                details={"field": "algorithm", "value": str(algorithm)[:40], "known": ALGORITHM},
                message="{field} {value!r} is not supported; use {known}.",
            )
        flags = 0
        if isinstance(user_data, bytes | bytearray | memoryview):
            payload = bytes(user_data)
        else:
            try:
                payload = json.dumps(user_data, separators=(",", ":"), ensure_ascii=False).encode()
            except (TypeError, ValueError) as e:
                raise ValidationError(
                    "validation.invalid",
                    details={"field": "user_data", "reason": str(e)[:200]},
                    message="{field} must be bytes or JSON-serialisable: {reason}.",
                ) from None
            flags = _FLAG_JSON
        if key_rotation:
            await self._apply_policy()
        cached = await self._data_key()
        nonce = os.urandom(_NONCE_LEN)
        header = bytes((_VERSION, flags)) + cached.header
        body = cached.aead.encrypt(nonce, payload, header + b"\x1f" + associated_data)
        return b64url_encode(header + nonce + body)

    async def decrypt_user_data(self, token: str | bytes, *, associated_data: bytes = b"") -> Any:
        """The value given to :meth:`encrypt_user_data` (bytes stay bytes, JSON comes back
        as the value). ``DecryptionError`` for anything altered, truncated or misbound."""
        raw = _decode(token)
        if raw[:1] == b"\x01":
            return self._decrypt_legacy(token, associated_data)
        flags, _, wrapped, offset = _parse(raw)
        aead = self._unwrapped_key(wrapped)
        if aead is None:
            import anyio

            dek = await anyio.to_thread.run_sync(self._unwrap, wrapped)
            aead = self._remember(wrapped, dek)
        header = raw[:offset]
        try:
            plain = aead.decrypt(
                raw[offset : offset + _NONCE_LEN],
                raw[offset + _NONCE_LEN :],
                header + b"\x1f" + associated_data,
            )
        except InvalidTag:
            raise DecryptionError() from None
        return json.loads(plain) if flags & _FLAG_JSON else plain

    def _decrypt_legacy(self, token: str | bytes, associated_data: bytes) -> bytes:
        """A token of the local keyring (``Keyring.encrypt_text``), from before envelopes."""
        provider = self._provider
        if not isinstance(provider, LocalKeyProvider):
            raise DecryptionError(
                "security.legacy_token",
                message=(
                    "The data was encrypted with the local keyring; decrypt it with that "
                    "keyring (re-encrypt it before switching to an HSM)."
                ),
            )
        return provider.keyring.decrypt(token, associated_data=associated_data)

    def key_id_of(self, token: str | bytes) -> str:
        """The master key a token's data key is wrapped under (no decryption)."""
        raw = _decode(token)
        if raw[:1] == b"\x01":
            return Keyring._parse(raw)[1:5].hex()
        return _parse(raw)[1]

    def is_legacy(self, token: str | bytes) -> bool:
        return _decode(token)[:1] == b"\x01"

    async def rewrap(self, token: str, *, associated_data: bytes = b"") -> str:
        """``token`` with its data key wrapped under the current master key.

        The data is not re-encrypted (its data key is unchanged), so the retired
        master key can then be destroyed; a legacy keyring token is fully
        re-encrypted into an envelope token. Returns ``token`` itself when it is
        already under the current key (after authenticating it).
        """
        import anyio

        raw = _decode(token)
        if raw[:1] == b"\x01":
            plain = self._decrypt_legacy(token, associated_data)
            return await self.encrypt_user_data(
                plain, key_rotation=False, associated_data=associated_data
            )
        flags, key_id, wrapped, offset = _parse(raw)
        entry = self._unwrapped_entry(wrapped)
        if entry is None:
            dek = await anyio.to_thread.run_sync(self._unwrap, wrapped)
            aead = self._remember(wrapped, dek)
        else:
            aead, dek = entry
        nonce, body = raw[offset : offset + _NONCE_LEN], raw[offset + _NONCE_LEN :]
        try:  # authenticates the token whether or not it needs rewrapping
            plain = aead.decrypt(nonce, body, raw[:offset] + b"\x1f" + associated_data)
        except InvalidTag:
            raise DecryptionError() from None
        current = await anyio.to_thread.run_sync(self._provider.current_key_id)
        if key_id == current:
            return token
        # A data key shared by many records (the cache) is wrapped once under the new key.
        with self._lock:
            fresh = self._rewrapped.get(wrapped)
        if fresh is None or self._provider.key_id_of(fresh) != current:
            fresh = await anyio.to_thread.run_sync(self._wrap, dek)
            await self._count(self._provider.key_id_of(fresh), 1)
            with self._lock:
                self._rewrapped[wrapped] = fresh
                while len(self._rewrapped) > self._cache_size:
                    self._rewrapped.popitem(last=False)
        fresh_id = self._provider.key_id_of(fresh)
        # The header (key id, wrapped key) is authenticated: seal the body again under it.
        head = bytes((_VERSION, flags)) + _header(fresh_id, fresh)
        new_nonce = os.urandom(_NONCE_LEN)
        sealed = aead.encrypt(new_nonce, plain, head + b"\x1f" + associated_data)
        return b64url_encode(head + new_nonce + sealed)

    # -- data keys ------------------------------------------------------------------

    def _wrap(self, dek: bytes) -> bytes:
        return self._provider.wrap(dek, context=b"")

    def _unwrap(self, wrapped: bytes) -> bytes:
        return self._provider.unwrap(wrapped, context=b"")

    def _unwrapped_key(self, wrapped: bytes) -> AESGCM | None:
        entry = self._unwrapped_entry(wrapped)
        return None if entry is None else entry[0]

    def _unwrapped_entry(self, wrapped: bytes) -> tuple[AESGCM, bytes] | None:
        with self._lock:
            entry = self._unwrapped.get(wrapped)
            if entry is not None:
                self._unwrapped.move_to_end(wrapped)
            return entry

    def _remember(self, wrapped: bytes, dek: bytes) -> AESGCM:
        aead = AESGCM(dek)
        with self._lock:
            self._unwrapped[wrapped] = (aead, dek)
            while len(self._unwrapped) > self._cache_size:
                self._unwrapped.popitem(last=False)
        return aead

    async def _data_key(self) -> _CachedKey:
        now = time.monotonic()
        with self._lock:
            cached = self._cached
            if cached is not None and cached.remaining > 0 and cached.expires > now:
                cached.remaining -= 1
                return cached
        import anyio

        data_key = await anyio.to_thread.run_sync(self._generate)
        await self._count(data_key.key_id, 1)
        fresh = _CachedKey(
            data_key.key_id,
            AESGCM(data_key.plaintext),
            _header(data_key.key_id, data_key.wrapped),
            now + self.policy.data_key_max_age_s,
            self.policy.data_key_max_messages - 1,
        )
        self._remember(data_key.wrapped, data_key.plaintext)
        with self._lock:
            self._cached = fresh
        return fresh

    def _generate(self) -> Any:
        return self._provider.generate_data_key(context=b"")

    async def _count(self, key_id: str, n: int) -> None:
        await self.usage.register(key_id, self._provider.kind, self.clock())
        total = await self.usage.add_uses(key_id, n)
        if total >= self.policy.max_encryptions:
            self._rotation_due = True

    # -- rotation -------------------------------------------------------------------

    async def _apply_policy(self) -> None:
        now = time.monotonic()
        if not self._rotation_due and now - self._checked_at < self.policy.check_interval_s:
            return
        self._checked_at = now
        import anyio

        current = await anyio.to_thread.run_sync(self._provider.refresh)
        if self._cached is not None and self._cached.key_id != current:
            self._forget_current()
        record = await self.usage.register(current, self._provider.kind, self.clock())
        reason = self.policy.due(record, self.clock()) if record.state == "active" else "retired"
        self._rotation_due = False
        if reason is not None:
            await self.rotate(reason=reason, expected=current)

    def _forget_current(self) -> None:
        with self._lock:
            self._cached = None

    async def rotate(self, *, reason: str = "manual", expected: str | None = None) -> str:
        """Make a new master key current; older keys keep decrypting. Returns its id.

        Across processes the retirement of the current key is a compare-and-set in
        the usage store: the process that wins creates the new key, the others wait
        for it to appear (up to 5 s) and use it.
        """
        import anyio

        old: str = (
            expected
            if expected is not None
            else await anyio.to_thread.run_sync(self._provider.current_key_id)
        )
        now = self.clock()
        await self.usage.register(old, self._provider.kind, now)
        if await self.usage.retire(old, now):
            new = await anyio.to_thread.run_sync(self._provider.rotate)
            log.info("keys: master key %s retired (%s); %s is current", old, reason, new)
        else:
            new = old
            for _ in range(50):
                new = await anyio.to_thread.run_sync(self._provider.refresh)
                if new != old:
                    break
                await anyio.sleep(0.1)
            if new == old:  # retired but nobody made a successor: make it ourselves
                new = await anyio.to_thread.run_sync(self._provider.rotate)
        await self.usage.register(new, self._provider.kind, self.clock())
        self._forget_current()
        return new

    async def ensure_key(self) -> tuple[str, bool]:
        """The current master key's id, creating the key first where the provider can
        hold none yet (an empty HSM token). Returns ``(key_id, created)``."""
        import anyio

        provider = self._provider
        created = False
        has_key = getattr(provider, "has_key", None)
        if has_key is not None and not await anyio.to_thread.run_sync(has_key):
            await anyio.to_thread.run_sync(provider.rotate)
            created = True
        key_id = await anyio.to_thread.run_sync(provider.refresh)
        await self.usage.register(key_id, provider.kind, self.clock())
        return key_id, created

    async def status(self) -> list[KeyStatus]:
        """Every master key the provider holds, with its age, use count and state."""
        import anyio

        infos = await anyio.to_thread.run_sync(self._provider.keys)
        current = next((i.key_id for i in infos if i.current), None)
        if current is not None:
            await self.usage.register(current, self._provider.kind, self.clock())
        records = {r.key_id: r for r in await self.usage.records()}
        now = self.clock()
        out = []
        for info in infos:
            record = records.get(info.key_id)
            state = record.state if record else ("active" if info.current else "retired")
            out.append(
                KeyStatus(
                    key_id=info.key_id,
                    provider=self._provider.kind,
                    label=info.label,
                    current=info.current,
                    state=state,
                    created_at=record.created_at if record else None,
                    age_days=(now - record.created_at).total_seconds() / 86400 if record else None,
                    encryptions=record.encryptions if record else 0,
                    max_encryptions=self.policy.max_encryptions,
                    rotation_due=self.policy.due(record, now) if record and info.current else None,
                )
            )
        return out

    async def aclose(self) -> None:
        self._forget_keys()
        self._provider.close()
        await self.usage.aclose()


def _header(key_id: str, wrapped: bytes) -> bytes:
    kid = key_id.encode("ascii")
    return bytes((len(kid),)) + kid + len(wrapped).to_bytes(2, "big") + wrapped


def _decode(token: str | bytes) -> bytes:
    if isinstance(token, bytes):
        try:
            token = token.decode("ascii")
        except UnicodeDecodeError:
            raise DecryptionError("security.malformed_token") from None
    if not isinstance(token, str):
        raise DecryptionError("security.malformed_token")
    try:
        raw = b64url_decode(token)
    except (ValueError, UnicodeEncodeError):
        raise DecryptionError("security.malformed_token") from None
    if not raw:
        raise DecryptionError("security.malformed_token")
    return raw


def _parse(raw: bytes) -> tuple[int, str, bytes, int]:
    """``(flags, key id, wrapped data key, offset of the nonce)`` of an envelope token."""
    try:
        if raw[0] != _VERSION:
            raise IndexError
        flags = raw[1]
        kid_len = raw[2]
        key_id = raw[3 : 3 + kid_len].decode("ascii")
        at = 3 + kid_len
        wrapped_len = int.from_bytes(raw[at : at + 2], "big")
        wrapped = raw[at + 2 : at + 2 + wrapped_len]
        offset = at + 2 + wrapped_len
        if len(wrapped) != wrapped_len or len(raw) < offset + _NONCE_LEN + _TAG_LEN:
            raise IndexError
    except (IndexError, UnicodeDecodeError):
        raise DecryptionError("security.malformed_token") from None
    return flags, key_id, wrapped, offset


# -- from settings ------------------------------------------------------------------------


def local_keyring(settings: Settings) -> tuple[Keyring, Path | None]:
    """The local keyring: ``ENCRYPTION_KEY``, else ``ENCRYPTION_KEY_FILE``, else the
    embedded ``<data dir>/audit.keys`` (created if absent). Returns it and its file."""
    if settings.encryption_key is not None:
        return Keyring.from_string(settings.encryption_key.get_secret_value()), None
    if settings.encryption_key_file is not None:
        return Keyring.from_file(settings.encryption_key_file), settings.encryption_key_file
    path = settings.data_dir / "audit.keys"
    if path.exists():
        return Keyring.from_file(path), path
    ring = Keyring.generate()
    ring.save(path)
    log.warning("keys: created %s; back it up, it is what decrypts and proves your data", path)
    return ring, path


def provider_from_settings(settings: Settings) -> MasterKeyProvider:
    """``BACKBEAT_KEY_PROVIDER``'s provider: ``local`` (the keyring) or ``pkcs11``."""
    if settings.key_provider == "pkcs11":
        from backbeat.security._pkcs11 import Pkcs11Config, Pkcs11KeyProvider

        config: dict[str, Any] = {
            "module": settings.pkcs11_module,
            "token": settings.pkcs11_token,
            "key_label": settings.pkcs11_key_label,
        }
        if settings.pkcs11_pin is not None:
            config["pin"] = settings.pkcs11_pin.get_secret_value()
        elif settings.pkcs11_pin_file is not None:
            config["pin_file"] = settings.pkcs11_pin_file
        return Pkcs11KeyProvider(Pkcs11Config.from_mapping(config))
    ring, path = local_keyring(settings)
    return LocalKeyProvider(ring, path)


def policy_from_settings(settings: Settings) -> RotationPolicy:
    days = settings.key_max_age_days
    return RotationPolicy(
        max_age=dt.timedelta(days=days) if days > 0 else None,
        max_encryptions=settings.key_max_encryptions,
    )


def create_key_manager(
    settings: Settings | None = None, *, engine: AsyncEngine | None = None
) -> KeyManager:
    """The seed's ``create_key_manager()``: provider and policy from the settings
    (environment by default), usage counters in ``DATABASE_URL``'s database (the
    embedded SQLite is migrated on first use)."""
    from backbeat.settings import Settings
    from backbeat.storage import create_engine

    settings = settings if settings is not None else Settings.from_env()
    provider = provider_from_settings(settings)
    embedded = settings.database_backend == "sqlite"
    if embedded:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    owns = engine is None
    usage = SqlKeyUsageStore(
        engine if engine is not None else create_engine(settings.database_url),
        migrate=embedded,
        owns=owns,
    )
    return KeyManager(provider, usage, policy_from_settings(settings))
