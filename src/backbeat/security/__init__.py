"""Security recipes on the libraries security engineers trust.

The easy call is the safe call: :class:`PasswordHasher` (argon2id),
:class:`Keyring` (AES-256-GCM with rotation), :func:`encrypt_sensitive_data`,
:class:`EnvelopeCipher` (per-record keys, crypto-shredding), :class:`SigningKey`
(Ed25519 / RSA-PSS), :class:`TokenService` (JWT, algorithm pinned per key),
:class:`ApiKeys`, :class:`CsrfTokens` + :class:`CSRFMiddleware`,
:func:`sanitize_html` / :func:`sanitize_data` (nh3) and
:func:`constant_time_compare`. Needs the ``security`` extra.

Key management: :func:`create_key_manager` gives a :class:`KeyManager` (envelope
encryption with data-key caching, a rotation policy shared through the database)
over a :class:`MasterKeyProvider`: :class:`LocalKeyProvider` (the keyring) or
:class:`Pkcs11KeyProvider` (an HSM; the ``hsm`` extra).
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
    HsmError,
    InvalidSignature,
    InvalidToken,
    KeyDestroyed,
    UnknownKey,
)
from backbeat.security._keymanager import (
    KeyManager,
    create_key_manager,
    local_keyring,
    policy_from_settings,
    provider_from_settings,
)
from backbeat.security._keyring import (
    Keyring,
    decrypt_sensitive_data,
    encrypt_sensitive_data,
    key_id,
)
from backbeat.security._keyusage import (
    GCM_RANDOM_NONCE_LIMIT,
    KeyRecord,
    KeyStatus,
    KeyUsageStore,
    MemoryKeyUsageStore,
    RotationPolicy,
    SqlKeyUsageStore,
)
from backbeat.security._kms import DataKey, LocalKeyProvider, MasterKeyInfo, MasterKeyProvider
from backbeat.security._passwords import MAX_PASSWORD_LENGTH, PasswordHasher
from backbeat.security._pkcs11 import Pkcs11Config, Pkcs11KeyProvider
from backbeat.security._sanitize import sanitize_data, sanitize_html
from backbeat.security._seed import SecurityUtils
from backbeat.security._tokens import ApiKeys, JwtKey, NewApiKey, TokenService

__all__ = [
    "GCM_RANDOM_NONCE_LIMIT",
    "MAX_PASSWORD_LENGTH",
    "Algorithm",
    "ApiKeys",
    "CSRFMiddleware",
    "CsrfError",
    "CsrfTokens",
    "DataKey",
    "DataKeyStore",
    "DecryptionError",
    "EnvelopeCipher",
    "HsmError",
    "InvalidSignature",
    "InvalidToken",
    "JwtKey",
    "KeyDestroyed",
    "KeyManager",
    "KeyProvider",
    "KeyRecord",
    "KeyStatus",
    "KeyUsageStore",
    "Keyring",
    "KeyringKeyProvider",
    "LocalKeyProvider",
    "MasterKeyInfo",
    "MasterKeyProvider",
    "MemoryDataKeyStore",
    "MemoryKeyUsageStore",
    "NewApiKey",
    "PasswordHasher",
    "Pkcs11Config",
    "Pkcs11KeyProvider",
    "RotationPolicy",
    "SecurityUtils",
    "SigningKey",
    "SqlKeyUsageStore",
    "TokenService",
    "UnknownKey",
    "VerifyKey",
    "constant_time_compare",
    "create_key_manager",
    "decrypt_sensitive_data",
    "encrypt_sensitive_data",
    "hybrid_decrypt",
    "hybrid_encrypt",
    "key_id",
    "local_keyring",
    "policy_from_settings",
    "provider_from_settings",
    "sanitize_data",
    "sanitize_html",
]
