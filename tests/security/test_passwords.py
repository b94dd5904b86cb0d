from __future__ import annotations

import base64
import hashlib
import os

import bcrypt
import pytest

from backbeat.errors import ValidationError
from backbeat.security import PasswordHasher, SecurityUtils

PW = "correct horse battery staple"


@pytest.fixture(scope="module")
def ph() -> PasswordHasher:
    return PasswordHasher()


def test_hash_is_argon2id_with_owasp_parameters(ph: PasswordHasher) -> None:
    h = ph.hash(PW)
    assert h.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert ph.hash(PW) != h  # salted


def test_verify(ph: PasswordHasher) -> None:
    h = ph.hash(PW)
    assert ph.verify(h, PW) is True
    assert ph.verify(h, PW + "!") is False
    assert ph.verify(h, "") is False


@pytest.mark.parametrize(
    "bad", ["", "$argon2id$garbage", "$2b$12$short", "plain", "$pbkdf2-sha256$x"]
)
def test_malformed_hashes_never_raise(ph: PasswordHasher, bad: str) -> None:
    assert ph.verify(bad, PW) is False


def test_needs_rehash_for_weaker_parameters(ph: PasswordHasher) -> None:
    weak = PasswordHasher(memory_cost=8192, time_cost=1)
    old = weak.hash(PW)
    assert ph.needs_rehash(old)
    assert not ph.needs_rehash(ph.hash(PW))
    ok, new = ph.verify_and_update(old, PW)
    assert ok
    assert new is not None
    assert not ph.needs_rehash(new)


def test_bcrypt_legacy_hash_is_upgraded(ph: PasswordHasher) -> None:
    legacy = bcrypt.hashpw(PW.encode(), bcrypt.gensalt(rounds=4)).decode()
    assert ph.verify(legacy, PW)
    assert not ph.verify(legacy, "wrong")
    ok, new = ph.verify_and_update(legacy, PW)
    assert ok
    assert new is not None
    assert new.startswith("$argon2id$")
    assert ph.verify(new, PW)
    assert ph.verify_and_update(legacy, "wrong") == (False, None)


def _passlib_pbkdf2(password: str, rounds: int = 29000) -> str:
    salt = os.urandom(16)
    dk = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, rounds)

    def ab64(b: bytes) -> str:
        return base64.b64encode(b).decode().rstrip("=").replace("+", ".")

    return f"$pbkdf2-sha256${rounds}${ab64(salt)}${ab64(dk)}"


def test_pbkdf2_legacy_hash_is_upgraded(ph: PasswordHasher) -> None:
    legacy = _passlib_pbkdf2(PW)
    assert ph.verify(legacy, PW)
    assert not ph.verify(legacy, "nope")
    ok, new = ph.verify_and_update(legacy, PW)
    assert ok
    assert new is not None
    assert new.startswith("$argon2id$")


def test_passlib_reference_hash() -> None:
    # Produced by passlib 1.7.4: pbkdf2_sha256.using(rounds=1000, salt=b"saltsaltsaltsalt")
    # .hash("password"); recomputed here with hashlib to stay independent of passlib.
    salt = b"saltsaltsaltsalt"
    dk = hashlib.pbkdf2_hmac("sha256", b"password", salt, 1000)
    enc = base64.b64encode(dk).decode().rstrip("=").replace("+", ".")
    salt_enc = base64.b64encode(salt).decode().rstrip("=").replace("+", ".")
    assert PasswordHasher().verify(f"$pbkdf2-sha256$1000${salt_enc}${enc}", "password")


def test_inputs_are_validated(ph: PasswordHasher) -> None:
    with pytest.raises(ValidationError):
        ph.hash(b"bytes")  # type: ignore[arg-type]
    with pytest.raises(ValidationError) as info:
        ph.hash("x" * 5000)
    assert info.value.code == "validation.password_too_long"


def test_seed_alias(ph: PasswordHasher) -> None:
    h = SecurityUtils.hash_password("password123")
    assert h.startswith("$argon2id$")
    assert SecurityUtils.verify_password(h, "password123")
