"""Password hashing: argon2id, with transparent upgrade of legacy hashes.

Parameters: argon2id, memory 19 MiB (19,456 KiB), 2 iterations, parallelism 1,
16-byte salt, 32-byte hash: the first (minimum) configuration of the OWASP
Password Storage Cheat Sheet's argon2id recommendation; raise ``memory_cost``
or ``time_cost`` if your servers can afford it (``needs_rehash`` then reports
older hashes). ``benchmarks/bench_security.py`` prints what one hash costs.

Legacy formats are verified so that users migrated from another system can log
in, and :meth:`PasswordHasher.verify_and_update` hands back an argon2id hash to
store in their place:

- bcrypt (``$2a$``, ``$2b$``, ``$2y$``), through the ``bcrypt`` package;
- PBKDF2-SHA256 in passlib's ``$pbkdf2-sha256$<rounds>$<salt>$<hash>`` format
  (salt and hash in passlib's "adapted base64": ``.`` for ``+``, no padding),
  through ``hashlib.pbkdf2_hmac``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging

import argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from backbeat.errors import ValidationError

__all__ = ["MAX_PASSWORD_LENGTH", "PasswordHasher"]

log = logging.getLogger(__name__)

#: Longer inputs are refused: hashing megabytes is a denial-of-service lever.
MAX_PASSWORD_LENGTH = 4096


def _check(password: str) -> bytes:
    if not isinstance(password, str):
        raise ValidationError(
            "validation.password_type",
            details={"type": type(password).__name__},
            message="A password must be a string, not {type}.",
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise ValidationError(
            "validation.password_too_long",
            details={"max": MAX_PASSWORD_LENGTH},
            message="A password may have at most {max} characters.",
        )
    return password.encode()


def _ab64_decode(text: str) -> bytes:
    padded = text.replace(".", "+") + "=" * (-len(text) % 4)
    return base64.b64decode(padded.encode("ascii"), validate=True)


class PasswordHasher:
    """argon2id password hashing; ``verify`` returns ``False`` on any mismatch, never raises.

    >>> ph = PasswordHasher()
    >>> h = ph.hash("correct horse battery staple")
    >>> ph.verify(h, "correct horse battery staple")
    True
    """

    def __init__(
        self,
        *,
        time_cost: int = 2,
        memory_cost: int = 19_456,
        parallelism: int = 1,
        hash_len: int = 32,
        salt_len: int = 16,
    ) -> None:
        self._argon = argon2.PasswordHasher(
            time_cost=time_cost,
            memory_cost=memory_cost,
            parallelism=parallelism,
            hash_len=hash_len,
            salt_len=salt_len,
            type=argon2.Type.ID,
        )

    def hash(self, password: str) -> str:
        """A ``$argon2id$...`` string with its own random salt."""
        return self._argon.hash(_check(password))

    def verify(self, hashed: str, password: str) -> bool:
        """Whether ``password`` matches ``hashed`` (argon2, bcrypt or pbkdf2-sha256)."""
        return self.verify_and_update(hashed, password)[0]

    def needs_rehash(self, hashed: str) -> bool:
        """True for legacy formats and for argon2 hashes made with weaker parameters."""
        if not hashed.startswith("$argon2"):
            return True
        try:
            return self._argon.check_needs_rehash(hashed)
        except (InvalidHashError, ValueError):
            return True

    def verify_and_update(self, hashed: str, password: str) -> tuple[bool, str | None]:
        """``(matches, new_hash)``: ``new_hash`` is set when the stored hash should be replaced.

        Store ``new_hash`` when it is not ``None``: that is how legacy bcrypt and
        PBKDF2 hashes, and argon2 hashes with old parameters, are upgraded on the
        user's next successful login.
        """
        secret = _check(password)
        if not isinstance(hashed, str):
            return False, None
        if hashed.startswith("$argon2"):
            ok = self._verify_argon2(hashed, secret)
        elif hashed.startswith(("$2a$", "$2b$", "$2y$")):
            ok = self._verify_bcrypt(hashed, secret)
        elif hashed.startswith("$pbkdf2-sha256$"):
            ok = self._verify_pbkdf2(hashed, secret)
        else:
            log.warning("password hash in an unknown format; refusing to verify")
            return False, None
        if ok and self.needs_rehash(hashed):
            return True, self.hash(password)
        return ok, None

    def _verify_argon2(self, hashed: str, secret: bytes) -> bool:
        try:
            return self._argon.verify(hashed, secret)
        except VerifyMismatchError:
            return False
        except (VerificationError, InvalidHashError):
            log.warning("malformed argon2 hash; refusing to verify")
            return False

    @staticmethod
    def _verify_bcrypt(hashed: str, secret: bytes) -> bool:
        import bcrypt

        if len(secret) > 72:
            return False  # bcrypt only ever saw 72 bytes; newer bcrypt refuses longer input
        try:
            return bcrypt.checkpw(secret, hashed.encode("ascii"))
        except (ValueError, UnicodeEncodeError):
            log.warning("malformed bcrypt hash; refusing to verify")
            return False

    @staticmethod
    def _verify_pbkdf2(hashed: str, secret: bytes) -> bool:
        try:
            _, _, rounds, salt, digest = hashed.split("$")
            expected = _ab64_decode(digest)
            actual = hashlib.pbkdf2_hmac(
                "sha256", secret, _ab64_decode(salt), int(rounds), dklen=len(expected)
            )
        except (ValueError, binascii.Error, UnicodeEncodeError):
            log.warning("malformed pbkdf2-sha256 hash; refusing to verify")
            return False
        return hmac.compare_digest(actual, expected)
