"""Signatures (Ed25519, RSA-PSS) and RSA-OAEP hybrid encryption, on ``cryptography``.

- :class:`SigningKey` / :class:`VerifyKey`: Ed25519 (RFC 8032; the default: small,
  fast, deterministic) or RSA-PSS with SHA-256 and maximum salt length (RFC 8017),
  3072-bit by default (NIST SP 800-57's 128-bit security level).
- :func:`hybrid_encrypt` / :func:`hybrid_decrypt`: a fresh AES-256-GCM key
  encrypts the data; RSA-OAEP-SHA256 wraps that key for the recipient. Blob:
  ``0x03 | wrapped key length (2 bytes) | wrapped key | nonce (12) | ciphertext``.
- PEM export/import, private keys encrypted with a password
  (``BestAvailableEncryption``: AES-256-CBC + scrypt/PBKDF2 in PKCS#8).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal

from cryptography.exceptions import InvalidSignature as _CryptoInvalidSignature
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from backbeat.errors import ValidationError
from backbeat.security._errors import DecryptionError, InvalidSignature

__all__ = ["Algorithm", "SigningKey", "VerifyKey", "hybrid_decrypt", "hybrid_encrypt"]

Algorithm = Literal["ed25519", "rsa-pss"]
PrivateKey = ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey
PublicKey = ed25519.Ed25519PublicKey | rsa.RSAPublicKey

_PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.MAX_LENGTH)
_OAEP = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)


def _bad_pem(e: Exception) -> ValidationError:
    return ValidationError(
        "validation.pem",
        details={"reason": type(e).__name__},
        message="The PEM key could not be loaded (wrong password or not a supported key).",
    )


@dataclass(frozen=True, slots=True)
class VerifyKey:
    """A public key that checks signatures."""

    key: PublicKey

    @property
    def algorithm(self) -> Algorithm:
        return "ed25519" if isinstance(self.key, ed25519.Ed25519PublicKey) else "rsa-pss"

    def verify(self, data: bytes, signature: bytes) -> None:
        """Return if ``signature`` is valid for ``data``; raise :class:`InvalidSignature` if not."""
        try:
            if isinstance(self.key, ed25519.Ed25519PublicKey):
                self.key.verify(signature, data)
            else:
                self.key.verify(signature, data, _PSS, hashes.SHA256())
        except _CryptoInvalidSignature:
            raise InvalidSignature() from None

    def is_valid(self, data: bytes, signature: bytes) -> bool:
        try:
            self.verify(data, signature)
        except InvalidSignature:
            return False
        return True

    def to_pem(self) -> bytes:
        return self.key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def raw(self) -> bytes:
        """Ed25519's 32 raw public bytes (RFC 8032 encoding)."""
        if not isinstance(self.key, ed25519.Ed25519PublicKey):
            raise ValidationError("validation.not_ed25519", message="Only Ed25519 keys are raw.")
        return self.key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    @classmethod
    def from_pem(cls, pem: bytes) -> VerifyKey:
        try:
            key = serialization.load_pem_public_key(pem)
        except (ValueError, TypeError) as e:
            raise _bad_pem(e) from e
        if not isinstance(key, ed25519.Ed25519PublicKey | rsa.RSAPublicKey):
            raise _bad_pem(TypeError(type(key).__name__))
        return cls(key)


@dataclass(frozen=True, slots=True)
class SigningKey:
    """A private key that signs; its :attr:`public_key` verifies."""

    key: PrivateKey

    @classmethod
    def generate(cls, algorithm: Algorithm = "ed25519", *, rsa_bits: int = 3072) -> SigningKey:
        if algorithm == "ed25519":
            return cls(ed25519.Ed25519PrivateKey.generate())
        if algorithm == "rsa-pss":
            if rsa_bits < 2048:
                raise ValidationError(
                    "validation.rsa_bits", message="RSA keys must have at least 2048 bits."
                )
            return cls(rsa.generate_private_key(public_exponent=65537, key_size=rsa_bits))
        raise ValidationError(
            "validation.algorithm",
            details={"algorithm": str(algorithm)},
            message="Unknown signature algorithm {algorithm!r}; use ed25519 or rsa-pss.",
        )

    @classmethod
    def from_ed25519_seed(cls, seed: bytes) -> SigningKey:
        """An Ed25519 key from its 32-byte secret (RFC 8032 "private key")."""
        return cls(ed25519.Ed25519PrivateKey.from_private_bytes(seed))

    @property
    def algorithm(self) -> Algorithm:
        return "ed25519" if isinstance(self.key, ed25519.Ed25519PrivateKey) else "rsa-pss"

    @property
    def public_key(self) -> VerifyKey:
        return VerifyKey(self.key.public_key())

    def sign(self, data: bytes) -> bytes:
        if isinstance(self.key, ed25519.Ed25519PrivateKey):
            return self.key.sign(data)
        return self.key.sign(data, _PSS, hashes.SHA256())

    def to_pem(self, password: bytes | None) -> bytes:
        """PKCS#8 PEM; encrypted with ``password``, or in clear only with ``password=None``."""
        encryption: serialization.KeySerializationEncryption = (
            serialization.BestAvailableEncryption(password)
            if password
            else serialization.NoEncryption()
        )
        return self.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
        )

    @classmethod
    def from_pem(cls, pem: bytes, password: bytes | None = None) -> SigningKey:
        try:
            key = serialization.load_pem_private_key(pem, password=password)
        except (ValueError, TypeError) as e:
            raise _bad_pem(e) from e
        if not isinstance(key, ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey):
            raise _bad_pem(TypeError(type(key).__name__))
        return cls(key)

    def __repr__(self) -> str:
        return f"SigningKey({self.algorithm})"


_HYBRID = b"\x03"


def hybrid_encrypt(
    recipient: VerifyKey, plaintext: bytes, *, associated_data: bytes = b""
) -> bytes:
    """Encrypt for the holder of an RSA private key (RSA-OAEP-SHA256 wraps AES-256-GCM)."""
    if not isinstance(recipient.key, rsa.RSAPublicKey):
        raise ValidationError(
            "validation.not_rsa", message="Hybrid encryption needs an RSA public key."
        )
    dek = AESGCM.generate_key(bit_length=256)
    wrapped = recipient.key.encrypt(dek, _OAEP)
    nonce = os.urandom(12)
    header = _HYBRID + len(wrapped).to_bytes(2, "big") + wrapped
    return header + nonce + AESGCM(dek).encrypt(nonce, plaintext, header + associated_data)


def hybrid_decrypt(recipient: SigningKey, blob: bytes, *, associated_data: bytes = b"") -> bytes:
    """Inverse of :func:`hybrid_encrypt`; ``DecryptionError`` on any tampering."""
    if not isinstance(recipient.key, rsa.RSAPrivateKey):
        raise ValidationError(
            "validation.not_rsa", message="Hybrid decryption needs an RSA private key."
        )
    if len(blob) < 3 or blob[:1] != _HYBRID:
        raise DecryptionError("security.malformed_token")
    n = int.from_bytes(blob[1:3], "big")
    header, rest = blob[: 3 + n], blob[3 + n :]
    if len(header) != 3 + n or len(rest) < 12 + 16:
        raise DecryptionError("security.malformed_token")
    try:
        dek = recipient.key.decrypt(header[3:], _OAEP)
        return AESGCM(dek).decrypt(rest[:12], rest[12:], header + associated_data)
    except (ValueError, InvalidTag):
        raise DecryptionError() from None
