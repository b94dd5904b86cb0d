from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backbeat import Settings, Toolkit
from backbeat.errors import ConfigurationError, ValidationError
from backbeat.security import (
    DecryptionError,
    EnvelopeCipher,
    KeyDestroyed,
    Keyring,
    KeyringKeyProvider,
    SecurityUtils,
    UnknownKey,
    decrypt_sensitive_data,
    encrypt_sensitive_data,
    key_id,
)
from backbeat.security._keyring import b64url_decode, b64url_encode

# McGrew & Viega, "The Galois/Counter Mode of Operation", test cases 13, 14 and 16
# (AES-256), as used in NIST's GCM validation.
GCM_VECTORS = [
    ("00" * 32, "00" * 12, "", "", "", "530f8afbc74536b9a963b4f1c4cb738b"),
    (
        "00" * 32,
        "00" * 12,
        "00" * 16,
        "",
        "cea7403d4d606b6e074ec5d3baf39d18",
        "d0d1c8a799996bf0265b98b5d48ab919",
    ),
    (
        "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
        "cafebabefacedbaddecaf888",
        "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
        "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
        "feedfacedeadbeeffeedfacedeadbeefabaddad2",
        "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
        "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
        "76fc6ece0f4e1768cddf8853bb2d551b",
    ),
]


@pytest.mark.parametrize(("key", "iv", "pt", "aad", "ct", "tag"), GCM_VECTORS)
def test_known_answer_vectors_decrypt_through_our_token_format(
    key: str, iv: str, pt: str, aad: str, ct: str, tag: str
) -> None:
    # A token is header || nonce || AES-GCM(key, nonce, pt, header || aad): build one
    # from the vector's key, IV and plaintext and decrypt it with the keyring.
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    k = bytes.fromhex(key)
    ring = Keyring([k])
    header = b"\x01" + bytes.fromhex(key_id(k))
    sealed = AESGCM(k).encrypt(bytes.fromhex(iv), bytes.fromhex(pt), header + bytes.fromhex(aad))
    token = b64url_encode(header + bytes.fromhex(iv) + sealed)
    assert ring.decrypt(token, associated_data=bytes.fromhex(aad)) == bytes.fromhex(pt)
    # And the primitive underneath is the standard one: the vector itself holds.
    assert AESGCM(k).encrypt(bytes.fromhex(iv), bytes.fromhex(pt), bytes.fromhex(aad) or None) == (
        bytes.fromhex(ct + tag)
    )


def test_token_layout() -> None:
    ring = Keyring.generate()
    raw = ring.encrypt(b"hello")
    assert b64url_decode(ring.encrypt_text(b"hello"))[:5] == raw[:5]
    assert raw[0] == 1
    assert raw[1:5].hex() == ring.primary_id
    assert len(raw) == 1 + 4 + 12 + 5 + 16


def test_round_trip_with_associated_data() -> None:
    ring = Keyring.generate()
    token = ring.encrypt("spotify refresh token", associated_data=b"user:42")
    assert isinstance(token, bytes)
    text = ring.encrypt_text("spotify refresh token", associated_data=b"user:42")
    assert isinstance(text, str)
    assert ring.decrypt(text, associated_data=b"user:42") == b"spotify refresh token"
    assert ring.decrypt(token, associated_data=b"user:42") == b"spotify refresh token"
    with pytest.raises(DecryptionError):
        ring.decrypt(token, associated_data=b"user:43")
    with pytest.raises(DecryptionError):
        ring.decrypt(token)


def test_nonces_are_fresh() -> None:
    ring = Keyring.generate()
    assert ring.encrypt(b"same") != ring.encrypt(b"same")


def test_every_flipped_byte_is_detected() -> None:
    ring = Keyring.generate()
    raw = bytearray(ring.encrypt(b"secret payload", associated_data=b"ad"))
    for i in range(len(raw)):
        for bit in (0x01, 0x80):
            tampered = bytearray(raw)
            tampered[i] ^= bit
            with pytest.raises((DecryptionError, UnknownKey)):
                ring.decrypt(bytes(tampered), associated_data=b"ad")
            with pytest.raises((DecryptionError, UnknownKey)):
                ring.decrypt(b64url_encode(bytes(tampered)), associated_data=b"ad")


@pytest.mark.parametrize("cut", [0, 1, 5, 17, 32])
def test_truncated_tokens_are_refused(cut: int) -> None:
    ring = Keyring.generate()
    raw = ring.encrypt(b"x" * 10)
    with pytest.raises(DecryptionError):
        ring.decrypt(b64url_encode(raw[:cut]))


@pytest.mark.parametrize("junk", ["", "!!!", "bm90IGEgdG9rZW4", 42])
def test_garbage_tokens_are_refused(junk: object) -> None:
    with pytest.raises(DecryptionError):
        Keyring.generate().decrypt(junk)  # type: ignore[arg-type]


def test_wrong_key_is_unknown_key_without_secrets() -> None:
    a, b = Keyring.generate(), Keyring.generate()
    with pytest.raises(UnknownKey) as info:
        b.decrypt(a.encrypt(b"x"))
    assert info.value.details["key_id"] == a.primary_id
    assert a.export() not in str(info.value)


def test_rotation_lifecycle() -> None:
    ring = Keyring.generate()
    k1 = ring.primary_id
    old = ring.encrypt(b"data", associated_data=b"r1")
    k2 = ring.rotate()
    assert ring.primary_id == k2 != k1
    assert ring.key_ids == (k2, k1)
    assert ring.decrypt(old, associated_data=b"r1") == b"data"
    moved = ring.reencrypt(old, associated_data=b"r1")
    assert ring.key_id_of(moved) == k2
    assert ring.reencrypt(moved, associated_data=b"r1") == moved
    text = ring.encrypt_text(b"t")
    assert ring.reencrypt(text) == text
    old_text = b64url_encode(old)
    moved_text = ring.reencrypt(old_text, associated_data=b"r1")
    assert isinstance(moved_text, str)
    assert ring.decrypt(moved_text, associated_data=b"r1") == b"data"
    ring.remove(k1)
    assert ring.decrypt(moved, associated_data=b"r1") == b"data"
    with pytest.raises(UnknownKey):
        ring.decrypt(old, associated_data=b"r1")
    with pytest.raises(ValidationError):
        ring.remove(k2)


def test_key_ids_do_not_depend_on_order() -> None:
    k1, k2 = os.urandom(32), os.urandom(32)
    a, b = Keyring([k1, k2]), Keyring([k2, k1])
    assert set(a.key_ids) == set(b.key_ids)
    assert b.decrypt(a.encrypt(b"x")) == b"x"


def test_from_string_export_and_file(tmp_path: Path) -> None:
    ring = Keyring.generate()
    ring.rotate()
    again = Keyring.from_string(ring.export())
    assert again.key_ids == ring.key_ids
    path = tmp_path / "keys"
    ring.save(path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert Keyring.from_file(path).key_ids == ring.key_ids
    assert "Keyring(primary=" in repr(ring)
    assert ring.export() not in repr(ring)


@pytest.mark.parametrize("bad", ["short", "a,,b", "", "%%%%"])
def test_malformed_key_strings_name_the_variable(bad: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        Keyring.from_string(bad)
    assert "ENCRYPTION_KEY" in info.value.message
    if bad:
        assert bad not in info.value.message


def test_toolkit_keyring_from_settings(tmp_path: Path) -> None:
    key = base64.urlsafe_b64encode(os.urandom(32)).decode()
    tk = Toolkit(Settings.from_env({"ENCRYPTION_KEY": key}))
    assert tk.keyring.decrypt(tk.keyring.encrypt(b"x")) == b"x"
    Keyring.generate().save(tmp_path / "k")
    tk2 = Toolkit(Settings.from_env({"ENCRYPTION_KEY_FILE": str(tmp_path / "k")}))
    assert len(tk2.keyring.key_ids) == 1
    with pytest.raises(ConfigurationError) as info:
        _ = Toolkit(Settings.from_env({})).keyring
    assert info.value.code == "config.no_encryption_key"


@given(st.binary(max_size=2000), st.binary(max_size=64))
def test_round_trip_property(data: bytes, aad: bytes) -> None:
    ring = RING
    assert ring.decrypt(ring.encrypt(data, associated_data=aad), associated_data=aad) == data


RING = Keyring.generate()


# -- field helpers ---------------------------------------------------------------


def test_sensitive_fields_round_trip_and_keep_types() -> None:
    ring = Keyring.generate()
    record = {"spotify_token": "xxx", "card": {"last4": "4242"}, "plays": 12, "name": "Ana"}
    enc = encrypt_sensitive_data(
        record, ring, record_id="user:1", fields=["spotify_token", "card", "plays"]
    )
    assert enc["name"] == "Ana"
    assert all(isinstance(enc[f], str) and enc[f] != record[f] for f in ("spotify_token", "card"))
    dec = decrypt_sensitive_data(
        enc, ring, record_id="user:1", fields=["spotify_token", "card", "plays"]
    )
    assert dec == record


def test_ciphertexts_cannot_be_swapped_between_fields_or_records() -> None:
    ring = Keyring.generate()
    enc = encrypt_sensitive_data({"a": "1", "b": "2"}, ring, record_id="r1")
    swapped = {"a": enc["b"], "b": enc["a"]}
    with pytest.raises(DecryptionError):
        decrypt_sensitive_data(swapped, ring, record_id="r1")
    with pytest.raises(DecryptionError):
        decrypt_sensitive_data(enc, ring, record_id="r2")


def test_seed_call_with_a_raw_key() -> None:
    user_key = os.urandom(32)
    enc = SecurityUtils.encrypt_sensitive_data({"spotify_token": "xxx"}, user_key)
    assert SecurityUtils.decrypt_sensitive_data(enc, user_key) == {"spotify_token": "xxx"}
    b64 = b64url_encode(user_key)
    assert decrypt_sensitive_data(enc, b64) == {"spotify_token": "xxx"}


# -- envelope ----------------------------------------------------------------------


def test_envelope_round_trip_and_crypto_shredding() -> None:
    cipher = EnvelopeCipher(KeyringKeyProvider(Keyring.generate()))
    t1 = cipher.encrypt("user:1", b"listening history", associated_data=b"history")
    t2 = cipher.encrypt("user:2", b"other")
    assert cipher.decrypt("user:1", t1, associated_data=b"history") == b"listening history"
    with pytest.raises(DecryptionError):
        cipher.decrypt("user:2", t1, associated_data=b"history")  # another record's key
    assert cipher.shred("user:1") is True
    with pytest.raises(KeyDestroyed):
        cipher.decrypt("user:1", t1, associated_data=b"history")
    assert cipher.decrypt("user:2", t2) == b"other"
    # A new key after shredding does not resurrect old data.
    cipher.encrypt("user:1", b"new")
    with pytest.raises(DecryptionError):
        cipher.decrypt("user:1", t1, associated_data=b"history")


def test_envelope_rewrap_under_a_rotated_kek() -> None:
    ring = Keyring.generate()
    provider = KeyringKeyProvider(ring)
    cipher = EnvelopeCipher(provider)
    token = cipher.encrypt("u", b"data")
    old_kid = ring.primary_id
    ring.rotate()
    wrapped = cipher.store.get("u")
    assert wrapped is not None
    assert not provider.is_current(wrapped)
    cipher.rewrap("u")
    wrapped = cipher.store.get("u")
    assert wrapped is not None
    assert provider.is_current(wrapped)
    ring.remove(old_kid)
    assert cipher.decrypt("u", token) == b"data"


def test_wrapped_keys_are_bound_to_their_record() -> None:
    cipher = EnvelopeCipher(KeyringKeyProvider(Keyring.generate()))
    cipher.encrypt("a", b"x")
    cipher.encrypt("b", b"y")
    wrapped_a = cipher.store.get("a")
    assert wrapped_a is not None
    cipher.store.put("b", wrapped_a)  # an attacker copies a's wrapped key onto b
    with pytest.raises(DecryptionError):
        cipher.decrypt("b", cipher.encrypt("a", b"z"))
