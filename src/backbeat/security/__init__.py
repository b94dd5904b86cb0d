"""Security recipes on the libraries security engineers trust.

The easy call is the safe call: :class:`PasswordHasher` (argon2id),
:class:`Keyring` (AES-256-GCM with rotation), :func:`encrypt_sensitive_data`,
:class:`EnvelopeCipher` (per-record keys, crypto-shredding), :class:`SigningKey`
(Ed25519 / RSA-PSS), :class:`TokenService` (JWT, algorithm pinned per key),
:class:`ApiKeys`, :class:`CsrfTokens` + :class:`CSRFMiddleware`,
:func:`sanitize_html` / :func:`sanitize_data` (nh3) and
:func:`constant_time_compare`. Needs the ``security`` extra.
"""

from backbeat.security._asymmetric import (
    Algorithm,
    SigningKey,
    VerifyKey,
    hybrid_decrypt,
    hybrid_encrypt,
)
from backbeat.security._compare import constant_time_compare
from backbeat.security._csrf import CSRFMiddleware, CsrfTokens
from backbeat.security._envelope import (
    DataKeyStore,
    EnvelopeCipher,
    KeyProvider,
    KeyringKeyProvider,
    MemoryDataKeyStore,
)
from backbeat.security._errors import (
    CsrfError,
    DecryptionError,
    InvalidSignature,
    InvalidToken,
    KeyDestroyed,
    UnknownKey,
)
from backbeat.security._keyring import (
    Keyring,
    decrypt_sensitive_data,
    encrypt_sensitive_data,
    key_id,
)
from backbeat.security._passwords import MAX_PASSWORD_LENGTH, PasswordHasher
from backbeat.security._sanitize import sanitize_data, sanitize_html
from backbeat.security._seed import SecurityUtils
from backbeat.security._tokens import ApiKeys, JwtKey, NewApiKey, TokenService

__all__ = [
    "MAX_PASSWORD_LENGTH",
    "Algorithm",
    "ApiKeys",
    "CSRFMiddleware",
    "CsrfError",
    "CsrfTokens",
    "DataKeyStore",
    "DecryptionError",
    "EnvelopeCipher",
    "InvalidSignature",
    "InvalidToken",
    "JwtKey",
    "KeyDestroyed",
    "KeyProvider",
    "Keyring",
    "KeyringKeyProvider",
    "MemoryDataKeyStore",
    "NewApiKey",
    "PasswordHasher",
    "SecurityUtils",
    "SigningKey",
    "TokenService",
    "UnknownKey",
    "VerifyKey",
    "constant_time_compare",
    "decrypt_sensitive_data",
    "encrypt_sensitive_data",
    "hybrid_decrypt",
    "hybrid_encrypt",
    "key_id",
    "sanitize_data",
    "sanitize_html",
]
