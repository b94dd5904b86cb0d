"""Security errors: what was refused, never the secret material involved."""

from __future__ import annotations

from backbeat.errors import SecurityError

__all__ = [
    "CsrfError",
    "DecryptionError",
    "HsmError",
    "InvalidSignature",
    "InvalidToken",
    "KeyDestroyed",
    "UnknownKey",
]


class DecryptionError(SecurityError):
    """Ciphertext tampered with, truncated, for other associated data, or under another key."""

    default_code = "security.decrypt_failed"
    default_message = "The data could not be decrypted: it was altered or belongs elsewhere."
    http_status = 400


class UnknownKey(SecurityError):
    """The token names a key id this keyring does not hold (removed, or never had)."""

    default_code = "security.unknown_key"
    default_message = "The data was encrypted with key {key_id}, which is not available."
    http_status = 400


class KeyDestroyed(SecurityError):
    """The record's data key was destroyed (crypto-shredded): the data is unrecoverable."""

    default_code = "security.key_destroyed"
    default_message = "The data key of this record was destroyed; its data cannot be read."
    http_status = 410


class InvalidSignature(SecurityError):
    default_code = "security.bad_signature"
    default_message = "The signature does not match the data."


class InvalidToken(SecurityError):
    default_code = "security.bad_token"
    default_message = "The token was refused."


class CsrfError(SecurityError):
    default_code = "security.csrf"
    default_message = "The CSRF token is missing, invalid or expired."
    http_status = 403


class HsmError(SecurityError):
    """The key module (PKCS#11) is misconfigured, refused us, or failed; never names the PIN."""

    default_code = "security.hsm_error"
    default_message = "The hardware security module failed."
    http_status = 503
