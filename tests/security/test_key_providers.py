"""One contract for every master-key provider: the local keyring and SoftHSM2 (PKCS#11)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from backbeat.security import (
    DecryptionError,
    EnvelopeCipher,
    Keyring,
    LocalKeyProvider,
    MasterKeyProvider,
    Pkcs11Config,
    Pkcs11KeyProvider,
    UnknownKey,
)
from tests.security.conftest import SoftHsm


@pytest.fixture(params=["local", "pkcs11"])
def provider(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MasterKeyProvider]:
    made: MasterKeyProvider
    if request.param == "local":
        path = tmp_path / "keys"
        Keyring.generate().save(path)
        made = LocalKeyProvider(Keyring.from_file(path), path)
    else:
        softhsm: SoftHsm = request.getfixturevalue("softhsm")
        hsm = Pkcs11KeyProvider(Pkcs11Config.from_mapping(softhsm.config()))
        hsm.create_key()
        made = hsm
    yield made
    made.close()


def test_it_is_a_master_key_provider(provider: MasterKeyProvider) -> None:
    assert isinstance(provider, MasterKeyProvider)


def test_a_data_key_round_trips_and_is_fresh_each_time(provider: MasterKeyProvider) -> None:
    one = provider.generate_data_key(context=b"ctx")
    two = provider.generate_data_key(context=b"ctx")
    assert len(one.plaintext) == 32
    assert one.plaintext != two.plaintext
    assert one.key_id == provider.current_key_id() == provider.key_id_of(one.wrapped)
    assert provider.decrypt_data_key(one.wrapped, context=b"ctx") == one.plaintext
    assert one.plaintext not in one.wrapped
    assert "plaintext" not in repr(one)
    assert one.plaintext.hex() not in repr(one)


def test_the_context_is_bound(provider: MasterKeyProvider) -> None:
    key = provider.generate_data_key(context=b"user:1")
    with pytest.raises(DecryptionError):
        provider.decrypt_data_key(key.wrapped, context=b"user:2")


@pytest.mark.parametrize("where", [-1, -20, 12])
def test_any_altered_byte_is_refused(provider: MasterKeyProvider, where: int) -> None:
    wrapped = bytearray(provider.generate_data_key().wrapped)
    wrapped[where] ^= 0x01
    with pytest.raises((DecryptionError, UnknownKey)):
        provider.decrypt_data_key(bytes(wrapped))


def test_truncated_wrapped_keys_are_refused(provider: MasterKeyProvider) -> None:
    wrapped = provider.generate_data_key().wrapped
    for cut in (0, 5, len(wrapped) - 1):
        with pytest.raises((DecryptionError, UnknownKey)):
            provider.decrypt_data_key(wrapped[:cut])


def test_rotation_keeps_old_keys_decrypting(provider: MasterKeyProvider) -> None:
    before = provider.generate_data_key()
    old = provider.current_key_id()
    new = provider.rotate()
    assert new != old
    assert provider.current_key_id() == new
    after = provider.generate_data_key()
    assert after.key_id == new
    assert provider.decrypt_data_key(before.wrapped) == before.plaintext
    infos = provider.keys()
    assert [i.key_id for i in infos if i.current] == [new]
    assert {old, new} <= {i.key_id for i in infos}


def test_another_key_sets_data_is_refused(provider: MasterKeyProvider, tmp_path: Path) -> None:
    other = LocalKeyProvider(Keyring.generate())
    foreign = other.generate_data_key().wrapped
    with pytest.raises((DecryptionError, UnknownKey)):
        provider.decrypt_data_key(foreign)


def test_envelope_cipher_takes_any_provider(provider: MasterKeyProvider) -> None:
    cipher = EnvelopeCipher(provider)
    token = cipher.encrypt("user-1", "listening history")
    assert cipher.decrypt("user-1", token) == b"listening history"
    cipher.rewrap("user-1")
    assert cipher.decrypt("user-1", token) == b"listening history"


def test_a_second_process_reads_what_the_first_wrapped(
    provider: MasterKeyProvider, tmp_path: Path
) -> None:
    """Same key file / same token, a new provider object (as another process builds it)."""
    key = provider.generate_data_key()
    if isinstance(provider, LocalKeyProvider):
        assert provider.path is not None
        twin: MasterKeyProvider = LocalKeyProvider(Keyring.from_file(provider.path), provider.path)
    else:
        assert isinstance(provider, Pkcs11KeyProvider)
        twin = Pkcs11KeyProvider(provider.config)
    try:
        assert twin.decrypt_data_key(key.wrapped) == key.plaintext
        assert twin.current_key_id() == provider.current_key_id()
    finally:
        twin.close()


def test_wrapping_is_thread_safe(provider: MasterKeyProvider) -> None:
    from concurrent.futures import ThreadPoolExecutor

    def work(_: int) -> bool:
        key = provider.generate_data_key(context=os.urandom(4))
        return len(key.plaintext) == 32

    with ThreadPoolExecutor(8) as pool:
        assert all(pool.map(work, range(200)))
