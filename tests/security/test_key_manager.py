"""KeyManager: envelope tokens, data-key caching, the rotation policy, and the seed's names."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from backbeat import Settings
from backbeat.errors import ValidationError
from backbeat.security import (
    DecryptionError,
    KeyManager,
    Keyring,
    LocalKeyProvider,
    MemoryKeyUsageStore,
    Pkcs11Config,
    Pkcs11KeyProvider,
    RotationPolicy,
    SqlKeyUsageStore,
    UnknownKey,
    create_key_manager,
)
from backbeat.storage import create_engine, upgrade
from tests.security.conftest import SoftHsm

pytestmark = pytest.mark.anyio


class Counting(LocalKeyProvider):
    """A local provider that counts calls into the master key."""

    wraps = 0
    unwraps = 0

    def wrap(self, data_key: bytes, *, context: bytes) -> bytes:
        self.wraps += 1
        return super().wrap(data_key, context=context)

    def unwrap(self, wrapped: bytes, *, context: bytes) -> bytes:
        self.unwraps += 1
        return super().unwrap(wrapped, context=context)


class Clock:
    def __init__(self) -> None:
        self.now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now


def manager(**policy: Any) -> tuple[KeyManager, Counting, Clock]:
    provider = Counting(Keyring.generate())
    clock = Clock()
    km = KeyManager(provider, MemoryKeyUsageStore(), RotationPolicy(**policy), clock=clock)
    return km, provider, clock


@pytest.mark.parametrize(
    "value",
    [{"email": "a@example.com", "plays": [1, 2]}, b"\x00\xffraw", "text", 42, None, []],
)
async def test_values_round_trip_with_their_type(value: Any) -> None:
    km, _, _ = manager()
    token = await km.encrypt_user_data(value, algorithm="AES-256-GCM", key_rotation=True)
    assert isinstance(token, str)
    assert await km.decrypt_user_data(token) == value
    if isinstance(value, dict):
        assert "a@example.com" not in token


async def test_the_token_is_self_describing_and_tamper_evident() -> None:
    km, provider, _ = manager()
    token = await km.encrypt_user_data({"a": 1}, associated_data=b"row-1")
    assert km.key_id_of(token) == provider.current_key_id()
    with pytest.raises(DecryptionError):
        await km.decrypt_user_data(token, associated_data=b"row-2")
    from backbeat.security._keyring import b64url_decode, b64url_encode

    raw = bytearray(b64url_decode(token))
    for where in (1, 5, len(raw) // 2, len(raw) - 1):
        altered = bytearray(raw)
        altered[where] ^= 0x01
        with pytest.raises((DecryptionError, UnknownKey)):
            await km.decrypt_user_data(b64url_encode(bytes(altered)), associated_data=b"row-1")
    for bad in ("", "not base64 !", b64url_encode(bytes(raw[:20]))):
        with pytest.raises(DecryptionError) as info:
            await km.decrypt_user_data(bad)
        assert info.value.code == "security.malformed_token"


async def test_another_key_sets_token_is_refused() -> None:
    km, _, _ = manager()
    other, _, _ = manager()
    token = await other.encrypt_user_data({"a": 1})
    with pytest.raises((DecryptionError, UnknownKey)):
        await km.decrypt_user_data(token)


async def test_bad_arguments_are_clear_errors() -> None:
    km, _, _ = manager()
    with pytest.raises(ValidationError) as info:
        await km.encrypt_user_data({"a": 1}, algorithm="DES")
    assert "AES-256-GCM" in info.value.message
    with pytest.raises(ValidationError) as info:
        await km.encrypt_user_data({"a": object()})
    assert "user_data" in info.value.message
    with pytest.raises(ValidationError):
        RotationPolicy(max_encryptions=2**33)


async def test_data_keys_are_cached_within_their_limits() -> None:
    km, provider, _ = manager(data_key_max_messages=10)
    tokens = [await km.encrypt_user_data({"i": i}) for i in range(25)]
    assert provider.wraps == 3  # 10 + 10 + 5 records
    for i, token in enumerate(tokens):
        assert await km.decrypt_user_data(token) == {"i": i}
    assert provider.unwraps == 0  # this process still holds the data keys it made
    fresh = KeyManager(provider, MemoryKeyUsageStore())
    for token in tokens:
        await fresh.decrypt_user_data(token)
    assert provider.unwraps == 3  # one per data key, then the LRU answers


async def test_data_keys_expire_after_their_age() -> None:
    km, provider, _ = manager(data_key_max_age_s=0.0)
    await km.encrypt_user_data(b"a")
    await km.encrypt_user_data(b"b")
    assert provider.wraps == 2


async def test_the_master_key_rotates_at_its_encryption_limit() -> None:
    km, provider, _ = manager(max_encryptions=3, data_key_max_messages=1, check_interval_s=0)
    first = provider.current_key_id()
    tokens = [await km.encrypt_user_data({"i": i}) for i in range(7)]
    ids = [km.key_id_of(t) for t in tokens]
    assert ids[:3] == [first] * 3
    assert ids[3] != first
    assert ids[3:6] == [ids[3]] * 3
    assert ids[6] not in (first, ids[3])
    status = {s.key_id: s for s in await km.status()}
    assert status[first].state == "retired"
    assert status[first].encryptions == 3
    assert status[ids[3]].state == "retired"
    assert status[ids[6]].current
    assert all(s.encryptions <= 3 for s in status.values())
    for i, token in enumerate(tokens):
        assert await km.decrypt_user_data(token) == {"i": i}


async def test_the_master_key_rotates_at_its_age() -> None:
    km, provider, clock = manager(max_age=dt.timedelta(days=30), check_interval_s=0)
    first = provider.current_key_id()
    await km.encrypt_user_data(b"x")
    clock.now += dt.timedelta(days=29)
    await km.encrypt_user_data(b"x")
    assert provider.current_key_id() == first
    clock.now += dt.timedelta(days=2)
    token = await km.encrypt_user_data(b"x")
    assert km.key_id_of(token) != first
    (old,) = [s for s in await km.status() if s.key_id == first]
    assert old.state == "retired"
    assert old.age_days == pytest.approx(31)


async def test_without_key_rotation_the_policy_is_not_applied() -> None:
    km, provider, _ = manager(max_encryptions=1, data_key_max_messages=1, check_interval_s=0)
    first = provider.current_key_id()
    for _ in range(3):
        await km.encrypt_user_data(b"x", key_rotation=False)
    assert provider.current_key_id() == first


async def test_rewrap_moves_a_token_to_the_current_key_once() -> None:
    km, provider, _ = manager()
    token = await km.encrypt_user_data({"secret": 1}, associated_data=b"ad")
    assert await km.rewrap(token, associated_data=b"ad") == token  # already current
    old = provider.current_key_id()
    new = await km.rotate()
    moved = await km.rewrap(token, associated_data=b"ad")
    assert km.key_id_of(token) == old
    assert km.key_id_of(moved) == new
    assert await km.decrypt_user_data(moved, associated_data=b"ad") == {"secret": 1}
    provider.keyring.remove(old)  # the retired key can go: nothing needs it any more
    assert await km.decrypt_user_data(moved, associated_data=b"ad") == {"secret": 1}
    with pytest.raises(DecryptionError):
        await km.rewrap(moved, associated_data=b"other")


async def test_legacy_keyring_tokens_still_decrypt_and_rewrap_to_envelopes() -> None:
    km, provider, _ = manager()
    legacy = provider.keyring.encrypt_text(b'{"a":1}', associated_data=b"ad")
    assert km.is_legacy(legacy)
    assert await km.decrypt_user_data(legacy, associated_data=b"ad") == b'{"a":1}'
    moved = await km.rewrap(legacy, associated_data=b"ad")
    assert not km.is_legacy(moved)
    assert await km.decrypt_user_data(moved, associated_data=b"ad") == b'{"a":1}'


async def _sql_store(url: str) -> SqlKeyUsageStore:
    engine = create_engine(url)
    await upgrade(engine)
    return SqlKeyUsageStore(engine, owns=True)


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_two_processes_at_the_limit_rotate_once(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Counters are shared through the database; retirement is a compare-and-set."""
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'keys.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    path = tmp_path / "keys"
    Keyring.generate().save(path)
    policy = RotationPolicy(max_encryptions=4, data_key_max_messages=1, check_interval_s=0)
    stores = [await _sql_store(url), await _sql_store(url)]
    a = KeyManager(LocalKeyProvider(Keyring.from_file(path), path), stores[0], policy)
    b = KeyManager(LocalKeyProvider(Keyring.from_file(path), path), stores[1], policy)
    first = a.provider.current_key_id()
    try:
        tokens = []
        for i in range(6):
            tokens.append(await a.encrypt_user_data({"i": i}))
            tokens.append(await b.encrypt_user_data({"i": i}))
        ring = Keyring.from_file(path)
        assert len(ring.key_ids) == 3  # 12 data keys, 4 per master key: not one per process
        records = {r.key_id: r for r in await stores[0].records()}
        assert records[first].state == "retired"
        assert records[first].encryptions == 4
        assert sorted(r.encryptions for r in records.values()) == [4, 4, 4]
        for token in tokens:  # each process reads the other's tokens
            await a.decrypt_user_data(token)
            await b.decrypt_user_data(token)
    finally:
        if backend == "postgres":
            from backbeat.storage import encryption_keys

            async with stores[0].engine.begin() as conn:
                await conn.execute(encryption_keys.delete())
        await a.aclose()
        await b.aclose()


async def test_create_key_manager_on_the_embedded_default(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    km = create_key_manager(settings)
    try:
        token = await km.encrypt_user_data({"email": "x@example.com"})
        assert await km.decrypt_user_data(token) == {"email": "x@example.com"}
        (status,) = await km.status()
        assert status.current
        assert status.encryptions == 1
        assert status.provider == "local"
    finally:
        await km.aclose()
    assert (tmp_path / "audit.keys").stat().st_mode & 0o777 == 0o600


async def test_the_seed_names_through_the_toolkit(tmp_path: Path) -> None:
    from backbeat import Toolkit

    async with Toolkit(Settings(data_dir=tmp_path)) as tk:
        token = await tk.key_manager.encrypt_user_data(
            {"user": "u1"}, algorithm="AES-256-GCM", key_rotation=True
        )
        assert await tk.key_manager.decrypt_user_data(token) == {"user": "u1"}


# -- PKCS#11 -------------------------------------------------------------------------------


async def test_configure_hsm_then_encrypt_in_the_module(softhsm: SoftHsm) -> None:
    km, _, _ = manager()
    config = {**softhsm.config(), "create_key": True}
    info = await km.configure_hsm(config)
    assert info["provider"] == "pkcs11"
    assert len(info["key_id"]) == 16
    token = await km.encrypt_user_data({"card": "4111"}, algorithm="AES-256-GCM")
    assert km.key_id_of(token) == info["key_id"]
    assert await km.decrypt_user_data(token) == {"card": "4111"}
    new = await km.rotate()
    assert new != info["key_id"]
    assert km.key_id_of(await km.rewrap(token)) == new
    await km.aclose()


def test_another_process_configured_with_the_same_token_decrypts(
    softhsm: SoftHsm, tmp_path: Path
) -> None:
    label = "shared-key"
    env = {**softhsm.env("contract", label), "BACKBEAT_DATA_DIR": str(tmp_path)}
    script = """
import asyncio, json, sys
from backbeat.security import create_key_manager
async def main():
    km = create_key_manager()
    if sys.argv[1] == "encrypt":
        await km.ensure_key()
        print(await km.encrypt_user_data({"who": "u1", "plays": 3}))
    else:
        print(json.dumps(await km.decrypt_user_data(sys.argv[2])))
    await km.aclose()
asyncio.run(main())
"""
    import os

    run_env = {**os.environ, **env}
    made = subprocess.run(
        [sys.executable, "-c", script, "encrypt"], env=run_env, capture_output=True, text=True
    )
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    read = subprocess.run(
        [sys.executable, "-c", script, "decrypt", token],
        env=run_env,
        capture_output=True,
        text=True,
    )
    assert read.returncode == 0, read.stderr
    assert json.loads(read.stdout) == {"who": "u1", "plays": 3}
    assert softhsm.pin not in made.stderr + read.stderr


async def test_a_lost_session_is_reopened(softhsm: SoftHsm) -> None:
    provider = Pkcs11KeyProvider(Pkcs11Config.from_mapping(softhsm.config()))
    provider.create_key()
    km = KeyManager(provider, MemoryKeyUsageStore())
    token = await km.encrypt_user_data(b"x")
    for slot in list(provider._pool.queue):  # the module closes our sessions under us
        slot.session.close()
    fresh = KeyManager(provider, MemoryKeyUsageStore())  # no cached data key: must call it
    assert await fresh.decrypt_user_data(token) == b"x"
    await km.aclose()
