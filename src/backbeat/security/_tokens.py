"""Bearer tokens: JWT with algorithms pinned per key, and opaque API keys.

**JWT** (RFC 7519) through PyJWT. Each :class:`JwtKey` has one algorithm; a
token is verified with the key its ``kid`` header names and *only* that key's
algorithm, so ``alg: none`` and HS/RS confusion (an RSA public key used as an
HMAC secret) are refused before any signature check. ``exp`` is required;
``exp``, ``nbf`` and ``iat`` are checked against an injectable clock with a
leeway; ``aud`` and ``iss`` when configured. Several keys give rotation: issue
with the first, verify with any.

**API keys** are ``<prefix>_<id>_<secret>``: the id (public, 8 base32
characters) finds the record, the secret (32 random bytes) is stored only as
HMAC-SHA256 (with an optional server-side pepper) and compared in constant
time. High-entropy secrets need no slow hash: nobody can brute-force 256 bits.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jwt

from backbeat.errors import ValidationError
from backbeat.security._asymmetric import SigningKey, VerifyKey
from backbeat.security._errors import InvalidToken
from backbeat.security._keyring import b64url_encode

__all__ = ["ApiKeys", "JwtKey", "NewApiKey", "TokenService"]

_HMAC_ALGS = {"HS256": 32, "HS384": 48, "HS512": 64}


@dataclass(frozen=True, slots=True)
class JwtKey:
    """One signing key with its pinned algorithm and id."""

    kid: str
    algorithm: str
    signing_key: Any  # bytes for HS*, a cryptography private key otherwise
    verification_key: Any

    @classmethod
    def hmac(cls, secret: bytes, *, kid: str, algorithm: str = "HS256") -> JwtKey:
        """An HMAC key; at least as long as the hash (RFC 7518 section 3.2)."""
        minimum = _HMAC_ALGS.get(algorithm)
        if minimum is None:
            raise ValidationError(
                "validation.jwt_algorithm",
                details={"algorithm": algorithm},
                message="{algorithm} is not an HMAC algorithm (HS256, HS384, HS512).",
            )
        if len(secret) < minimum:
            raise ValidationError(
                "validation.jwt_key_length",
                details={"algorithm": algorithm, "minimum": minimum},
                message="{algorithm} keys need at least {minimum} bytes.",
            )
        return cls(kid, algorithm, secret, secret)

    @classmethod
    def asymmetric(cls, key: SigningKey | VerifyKey, *, kid: str) -> JwtKey:
        """EdDSA (Ed25519) or PS256 (RSA-PSS); a ``VerifyKey`` only verifies."""
        algorithm = "EdDSA" if key.algorithm == "ed25519" else "PS256"
        if isinstance(key, SigningKey):
            return cls(kid, algorithm, key.key, key.public_key.key)
        return cls(kid, algorithm, None, key.key)


def _refuse(code: str, *, message: str, **details: object) -> InvalidToken:
    return InvalidToken(code, details=details, message=message)


class TokenService:
    """Issue and verify JWTs; the first key signs, every key verifies.

    Parameters
    ----------
    keys:
        :class:`JwtKey` list, signing key first.
    issuer, audience:
        Set in issued tokens and required when verifying.
    leeway:
        Seconds of clock skew tolerated for ``exp``/``nbf``/``iat``.
    clock:
        Epoch seconds; inject for tests.
    """

    def __init__(
        self,
        keys: Sequence[JwtKey],
        *,
        issuer: str | None = None,
        audience: str | None = None,
        leeway: float = 30.0,
        default_ttl: float = 900.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not keys:
            raise ValidationError("validation.jwt_keys", message="At least one JWT key is needed.")
        self.keys = {k.kid: k for k in keys}
        self.signing = keys[0]
        self.issuer, self.audience, self.leeway = issuer, audience, leeway
        self.default_ttl = default_ttl
        self.clock = clock

    def issue(
        self, subject: str, *, claims: Mapping[str, Any] | None = None, ttl: float | None = None
    ) -> str:
        if self.signing.signing_key is None:
            raise ValidationError(
                "validation.jwt_verify_only", message="The first JWT key cannot sign."
            )
        now = int(self.clock())
        payload: dict[str, Any] = {**(claims or {}), "sub": subject, "iat": now}
        payload["exp"] = now + int(self.default_ttl if ttl is None else ttl)
        if self.issuer:
            payload["iss"] = self.issuer
        if self.audience:
            payload["aud"] = self.audience
        return jwt.encode(
            payload,
            self.signing.signing_key,
            algorithm=self.signing.algorithm,
            headers={"kid": self.signing.kid},
        )

    def verify(self, token: str) -> dict[str, Any]:
        """The claims of a valid token; :class:`InvalidToken` (with a reason) otherwise."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise _refuse("security.token_malformed", message="The token is malformed.") from None
        alg = header.get("alg")
        kid = header.get("kid")
        if not isinstance(alg, str) or alg.lower() == "none":
            raise _refuse(
                "security.token_unsigned",
                message="The token was refused: unsigned tokens are not accepted.",
            )
        if kid is None and len(self.keys) == 1:
            key = self.signing
        elif isinstance(kid, str) and kid in self.keys:
            key = self.keys[kid]
        else:
            raise _refuse(
                "security.token_unknown_key",
                message="The token was refused: it names an unknown key.",
            )
        if alg != key.algorithm:
            raise _refuse(
                "security.token_algorithm",
                message="The token was refused: algorithm {algorithm} is not pinned for its key.",
                algorithm=str(alg)[:20],
            )
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.verification_key,
                algorithms=[key.algorithm],
                audience=self.audience,
                issuer=self.issuer,
                options={
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                    "verify_aud": self.audience is not None,
                    "require": ["exp"] + (["iss"] if self.issuer else []),
                },
            )
        except jwt.InvalidAudienceError:
            raise _refuse(
                "security.token_audience", message="The token was refused: wrong audience."
            ) from None
        except jwt.InvalidIssuerError:
            raise _refuse(
                "security.token_issuer", message="The token was refused: wrong issuer."
            ) from None
        except jwt.MissingRequiredClaimError as e:
            raise _refuse(
                "security.token_missing_claim",
                message="The token was refused: the {claim} claim is missing.",
                claim=str(e.claim),
            ) from None
        except jwt.PyJWTError:
            raise _refuse(
                "security.token_invalid",
                message="The token was refused: bad signature or malformed.",
            ) from None
        self._check_times(claims)
        return claims

    def _check_times(self, claims: Mapping[str, Any]) -> None:
        now = self.clock()
        for name in ("exp", "nbf", "iat"):
            if name in claims and not isinstance(claims[name], int | float):
                raise _refuse(
                    "security.token_time_claim",
                    message="The token was refused: the {claim} claim is not a number.",
                    claim=name,
                )
        if now > claims["exp"] + self.leeway:
            raise _refuse("security.token_expired", message="The token has expired.")
        if "nbf" in claims and now < claims["nbf"] - self.leeway:
            raise _refuse("security.token_not_yet_valid", message="The token is not yet valid.")
        if "iat" in claims and claims["iat"] > now + self.leeway:
            raise _refuse(
                "security.token_future",
                message="The token was refused: it was issued in the future.",
            )


@dataclass(frozen=True, slots=True)
class NewApiKey:
    """A freshly generated key: show ``plaintext`` once, store ``key_id`` and ``hash``."""

    plaintext: str
    key_id: str
    hash: str

    def __repr__(self) -> str:
        return f"NewApiKey(key_id={self.key_id!r})"


class ApiKeys:
    """Generate, parse and verify opaque API keys; see the module docstring."""

    def __init__(self, *, prefix: str = "bb", pepper: bytes = b"") -> None:
        if not prefix.isalnum():
            raise ValidationError(
                "validation.api_key_prefix", message="The API key prefix must be alphanumeric."
            )
        self.prefix = prefix
        self._pepper = pepper

    def _digest(self, secret: str) -> str:
        return hmac.new(self._pepper, secret.encode(), hashlib.sha256).hexdigest()

    def generate(self) -> NewApiKey:
        key_id = base64.b32encode(os.urandom(5)).decode().lower()
        secret = b64url_encode(os.urandom(32))
        return NewApiKey(f"{self.prefix}_{key_id}_{secret}", key_id, self._digest(secret))

    def parse(self, presented: str) -> tuple[str, str]:
        """``(key_id, secret)``; :class:`InvalidToken` if it is not one of our keys."""
        parts = presented.split("_", 2) if isinstance(presented, str) else []
        if len(parts) != 3 or parts[0] != self.prefix or len(parts[1]) != 8 or not parts[2]:
            raise _refuse("security.api_key_malformed", message="This is not an API key.")
        return parts[1], parts[2]

    def key_id(self, presented: str) -> str:
        """The public id in a presented key (to look up its stored hash)."""
        return self.parse(presented)[0]

    def verify(self, presented: str, stored_hash: str) -> bool:
        """Whether ``presented`` matches the stored hash (constant-time comparison)."""
        try:
            _, secret = self.parse(presented)
        except InvalidToken:
            return False
        return hmac.compare_digest(self._digest(secret), stored_hash)
