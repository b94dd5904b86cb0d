from __future__ import annotations

import dataclasses

from backbeat.audit import Redactor


def test_denylisted_keys_are_masked_at_any_depth() -> None:
    data = {
        "user": {"name": "ana", "Password": "p", "profile": [{"refresh_token": "t", "x": 1}]},
        "headers": {"Authorization": "Bearer abc", "X-Api-Key": "k", "Accept": "json"},
        "card_number": "4242",
        "iban": "FR76",
    }
    out = Redactor().redact(data)
    assert out == {
        "user": {
            "name": "ana",
            "Password": "[REDACTED]",
            "profile": [{"refresh_token": "[REDACTED]", "x": 1}],
        },
        "headers": {"Authorization": "[REDACTED]", "X-Api-Key": "[REDACTED]", "Accept": "json"},
        "card_number": "[REDACTED]",
        "iban": "[REDACTED]",
    }


def test_hashed_masks_correlate_without_revealing() -> None:
    r = Redactor(hash_key=b"k" * 32)
    a = r.redact({"token": "same-secret"})["token"]
    b = r.redact({"token": "same-secret"})["token"]
    c = r.redact({"token": "other"})["token"]
    assert a == b != c
    assert a.startswith("hmac:")
    assert "same-secret" not in a
    assert Redactor(hash_key=b"j" * 32).redact({"token": "same-secret"})["token"] != a


def test_custom_denylist() -> None:
    r = Redactor(["email"])
    assert r.redact({"email": "a@b.c", "password": "p"}) == {"email": "[REDACTED]", "password": "p"}


def test_values_become_json_safe_without_repr() -> None:
    class Client:
        def __repr__(self) -> str:
            return "Client(secret='hunter2')"

    @dataclasses.dataclass
    class Login:
        user: str
        password: str

    out = Redactor().redact({"c": Client(), "b": b"\x00" * 5, "l": Login("ana", "pw"), "t": (1, 2)})
    assert out == {
        "c": "<Client>",
        "b": "<5 bytes>",
        "l": {"user": "ana", "password": "[REDACTED]"},
        "t": [1, 2],
    }
    assert "hunter2" not in str(out)
