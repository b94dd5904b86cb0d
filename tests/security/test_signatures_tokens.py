from __future__ import annotations

import base64
import json

import jwt
import pytest

from backbeat.errors import ValidationError
from backbeat.security import (
    ApiKeys,
    DecryptionError,
    InvalidSignature,
    InvalidToken,
    JwtKey,
    SigningKey,
    TokenService,
    VerifyKey,
    constant_time_compare,
    hybrid_decrypt,
    hybrid_encrypt,
)

# RFC 8032 section 7.1, tests 1 and 2.
ED25519_VECTORS = [
    (
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "",
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    ),
    (
        "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        "72",
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
    ),
]


@pytest.mark.parametrize(("secret", "public", "msg", "sig"), ED25519_VECTORS)
def test_rfc8032_vectors(secret: str, public: str, msg: str, sig: str) -> None:
    key = SigningKey.from_ed25519_seed(bytes.fromhex(secret))
    assert key.public_key.raw().hex() == public
    assert key.sign(bytes.fromhex(msg)).hex() == sig
    key.public_key.verify(bytes.fromhex(msg), bytes.fromhex(sig))


@pytest.mark.parametrize("algorithm", ["ed25519", "rsa-pss"])
def test_sign_verify_and_tamper(algorithm: str) -> None:
    key = SigningKey.generate(algorithm, rsa_bits=2048)  # type: ignore[arg-type]
    sig = key.sign(b"checkpoint")
    key.public_key.verify(b"checkpoint", sig)
    assert not key.public_key.is_valid(b"checkpoinT", sig)
    bad = bytes([sig[0] ^ 1]) + sig[1:]
    with pytest.raises(InvalidSignature):
        key.public_key.verify(b"checkpoint", bad)


@pytest.mark.parametrize("algorithm", ["ed25519", "rsa-pss"])
def test_pem_round_trip_with_password(algorithm: str) -> None:
    key = SigningKey.generate(algorithm, rsa_bits=2048)  # type: ignore[arg-type]
    pem = key.to_pem(b"s3cret")
    assert b"ENCRYPTED" in pem
    again = SigningKey.from_pem(pem, b"s3cret")
    pub = VerifyKey.from_pem(key.public_key.to_pem())
    pub.verify(b"m", again.sign(b"m"))
    with pytest.raises(ValidationError) as info:
        SigningKey.from_pem(pem, b"wrong")
    assert "s3cret" not in info.value.message


def test_rsa_oaep_hybrid_encryption() -> None:
    key = SigningKey.generate("rsa-pss", rsa_bits=2048)
    blob = hybrid_encrypt(key.public_key, b"x" * 10_000, associated_data=b"ctx")
    assert hybrid_decrypt(key, blob, associated_data=b"ctx") == b"x" * 10_000
    with pytest.raises(DecryptionError):
        hybrid_decrypt(key, blob, associated_data=b"other")
    for i in (0, 5, 300, len(blob) - 1):
        tampered = bytearray(blob)
        tampered[i] ^= 1
        with pytest.raises(DecryptionError):
            hybrid_decrypt(key, bytes(tampered), associated_data=b"ctx")
    other = SigningKey.generate("rsa-pss", rsa_bits=2048)
    with pytest.raises(DecryptionError):
        hybrid_decrypt(other, blob, associated_data=b"ctx")


# -- JWT -------------------------------------------------------------------------------

# RFC 7519 section 3.1 example, signed with the RFC 7515 appendix A.1 HMAC key.
RFC7519_TOKEN = (
    "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9."
    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ."
    "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
)
RFC7515_KEY = base64.urlsafe_b64decode(
    "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow=="
)


def test_rfc7519_example_verifies_at_its_time_and_expires_after() -> None:
    key = JwtKey.hmac(RFC7515_KEY, kid="rfc")
    at_the_time = TokenService([key], clock=lambda: 1300819000, leeway=0)
    claims = at_the_time.verify(RFC7519_TOKEN)
    assert claims == {"iss": "joe", "exp": 1300819380, "http://example.com/is_root": True}
    later = TokenService([key], clock=lambda: 1300819381, leeway=0)
    with pytest.raises(InvalidToken, match="expired"):
        later.verify(RFC7519_TOKEN)


def service(clock: float = 1_000_000.0, **kw: object) -> TokenService:
    keys = [JwtKey.hmac(b"k" * 32, kid="k1")]
    return TokenService(keys, clock=lambda: clock, **kw)  # type: ignore[arg-type]


def test_issue_and_verify_with_claims_audience_and_issuer() -> None:
    svc = service(issuer="backbeat", audience="api")
    token = svc.issue("user-1", claims={"scope": "read"}, ttl=60)
    assert jwt.get_unverified_header(token)["kid"] == "k1"
    claims = svc.verify(token)
    assert (claims["sub"], claims["scope"], claims["aud"]) == ("user-1", "read", "api")
    with pytest.raises(InvalidToken, match="audience"):
        service(issuer="backbeat", audience="other").verify(token)
    with pytest.raises(InvalidToken, match="issuer"):
        service(issuer="evil", audience="api").verify(token)


def test_time_checks_with_leeway() -> None:
    token = service(clock=1000).issue("u", ttl=60)
    service(clock=1060 + 29, leeway=30).verify(token)
    with pytest.raises(InvalidToken, match="expired"):
        service(clock=1060 + 31, leeway=30).verify(token)
    with pytest.raises(InvalidToken, match="future"):
        service(clock=1000 - 31, leeway=30).verify(token)
    nbf = jwt.encode(
        {"exp": 5000, "nbf": 2000}, b"k" * 32, algorithm="HS256", headers={"kid": "k1"}
    )
    with pytest.raises(InvalidToken, match="not yet"):
        service(clock=1000).verify(nbf)


def _forge(header: dict[str, object], payload: dict[str, object], sig: bytes = b"") -> str:
    def part(obj: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    return f"{part(header)}.{part(payload)}.{base64.urlsafe_b64encode(sig).rstrip(b'=').decode()}"


def test_alg_none_is_refused() -> None:
    for alg in ("none", "None", "NONE"):
        with pytest.raises(InvalidToken, match="unsigned"):
            service().verify(_forge({"alg": alg, "kid": "k1"}, {"sub": "admin", "exp": 9e9}))


def test_hs_rs_confusion_is_refused() -> None:
    rsa_key = SigningKey.generate("rsa-pss", rsa_bits=2048)
    svc = TokenService([JwtKey.asymmetric(rsa_key, kid="rs")], clock=lambda: 1000)
    public_pem = rsa_key.public_key.to_pem()
    # The classic attack: sign with HMAC using the public key as the secret.
    import hashlib
    import hmac

    header = {"alg": "HS256", "kid": "rs", "typ": "JWT"}
    payload = {"sub": "admin", "exp": 9_999_999_999}
    unsigned = _forge(header, payload).rsplit(".", 1)[0]
    sig = hmac.new(public_pem, unsigned.encode(), hashlib.sha256).digest()
    with pytest.raises(InvalidToken, match="pinned"):
        svc.verify(_forge(header, payload, sig))
    # The genuine PS256 token passes.
    assert svc.verify(svc.issue("me"))["sub"] == "me"


def test_key_rotation_and_unknown_kids() -> None:
    old = JwtKey.hmac(b"o" * 32, kid="old")
    new = JwtKey.asymmetric(SigningKey.generate(), kid="new")
    token_old = TokenService([old], clock=lambda: 1000).issue("u")
    rotated = TokenService([new, old], clock=lambda: 1000)
    assert rotated.verify(token_old)["sub"] == "u"
    assert jwt.get_unverified_header(rotated.issue("u"))["alg"] == "EdDSA"
    with pytest.raises(InvalidToken, match="unknown key"):
        TokenService([new], clock=lambda: 1000).verify(token_old)


def test_tampered_and_malformed_tokens() -> None:
    svc = service()
    token = svc.issue("u")
    head, body, sig = token.split(".")
    payload = json.loads(base64.urlsafe_b64decode(body + "=="))
    payload["sub"] = "admin"
    forged_body = base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()
    for bad in (f"{head}.{forged_body}.{sig}", "garbage", "a.b.c", token[:-2]):
        with pytest.raises(InvalidToken):
            svc.verify(bad)


def test_short_hmac_keys_are_refused() -> None:
    with pytest.raises(ValidationError):
        JwtKey.hmac(b"short", kid="x")


# -- API keys ----------------------------------------------------------------------------


def test_api_keys_are_stored_hashed_and_checked() -> None:
    keys = ApiKeys(prefix="bb", pepper=b"server-pepper")
    new = keys.generate()
    assert new.plaintext.startswith(f"bb_{new.key_id}_")
    assert new.hash not in new.plaintext
    assert new.plaintext not in repr(new)
    assert keys.key_id(new.plaintext) == new.key_id
    assert keys.verify(new.plaintext, new.hash)
    other = "B" if new.plaintext.endswith("A") else "A"
    assert not keys.verify(new.plaintext[:-1] + other, new.hash)
    assert not keys.verify("bb_x_y", new.hash)
    assert not ApiKeys(prefix="bb").verify(new.plaintext, new.hash)  # pepper matters
    with pytest.raises(InvalidToken):
        keys.parse("nope")


def test_constant_time_compare() -> None:
    assert constant_time_compare("abc", "abc")
    assert constant_time_compare(b"abc", "abc")
    assert constant_time_compare("é", "é")
    assert not constant_time_compare("abc", "abd")
    assert not constant_time_compare("abc", "abcd")
