"""The PKCS#11 provider against SoftHSM2: key attributes, and every refusal a clear error."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from backbeat.security import HsmError, Pkcs11Config, Pkcs11KeyProvider, UnknownKey
from tests.security.conftest import SoftHsm


def provider(softhsm: SoftHsm, **overrides: str) -> Pkcs11KeyProvider:
    return Pkcs11KeyProvider(Pkcs11Config.from_mapping({**softhsm.config("errors"), **overrides}))


def refused(softhsm: SoftHsm, code: str, p: Pkcs11KeyProvider) -> HsmError:
    with pytest.raises(HsmError) as info:
        p.check()
    assert info.value.code == code
    assert softhsm.pin not in str(info.value.to_dict())
    assert softhsm.pin not in repr(p)
    assert softhsm.pin not in repr(p.config)
    return info.value


def test_the_master_key_cannot_leave_the_module(softhsm: SoftHsm) -> None:
    import pkcs11
    from pkcs11 import Attribute

    p = provider(softhsm)
    key_id = p.create_key()
    (info,) = p.keys()
    assert info.key_id == key_id
    assert info.current
    assert info.attributes["CKA_SENSITIVE"] is True
    assert info.attributes["CKA_EXTRACTABLE"] is False
    assert info.attributes["CKA_NEVER_EXTRACTABLE"] is True
    assert info.attributes["CKA_VALUE_LEN"] == 32
    with p._slot() as slot:  # a logged-in session of the module, as any caller gets
        (key,) = slot.session.get_objects({Attribute.LABEL: p.config.key_label})
        with pytest.raises(pkcs11.exceptions.AttributeSensitive):
            key[Attribute.VALUE]
    p.close()


def test_a_wrong_pin_is_refused_without_echoing_it(
    softhsm: SoftHsm, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    # A token nobody in this process is logged in to (PKCS#11 logs in per application).
    wrong = Pkcs11KeyProvider(
        Pkcs11Config.from_mapping({**softhsm.config("pin"), "pin": "0000-wrong"})
    )
    error = refused(softhsm, "security.hsm_pin", wrong)
    assert "pin" in error.message
    assert "0000-wrong" not in error.message
    assert "0000-wrong" not in caplog.text


def test_a_missing_module_names_its_path(softhsm: SoftHsm, tmp_path: Path) -> None:
    missing = str(tmp_path / "libnothing.so")
    error = refused(softhsm, "security.hsm_module", provider(softhsm, module=missing))
    assert missing in error.message


def test_an_absent_token_lists_those_present(softhsm: SoftHsm) -> None:
    error = refused(softhsm, "security.hsm_token", provider(softhsm, token="no-such-token"))
    assert "no-such-token" in error.message
    assert "contract" in error.message


def test_an_unknown_key_label_points_to_generate(softhsm: SoftHsm) -> None:
    error = refused(softhsm, "security.hsm_key", provider(softhsm, key_label="never-made"))
    assert "never-made" in error.message
    assert "backbeat keys generate" in error.message


def test_an_extractable_key_is_refused_unless_allowed(softhsm: SoftHsm) -> None:
    from pkcs11 import Attribute, KeyType

    label = "extractable-key"
    maker = provider(softhsm)
    with maker._slot() as slot:
        slot.session.generate_key(
            KeyType.AES,
            256,
            id=(1).to_bytes(4, "big") + b"abcd",
            label=label,
            store=True,
            template={Attribute.EXTRACTABLE: True, Attribute.SENSITIVE: False},
        )
    maker.close()
    error = refused(softhsm, "security.hsm_extractable", provider(softhsm, key_label=label))
    assert label in error.message
    allowed = Pkcs11KeyProvider(
        Pkcs11Config.from_mapping(
            {**softhsm.config("errors"), "key_label": label, "allow_extractable": "true"}
        )
    )
    key = allowed.generate_data_key()
    assert allowed.decrypt_data_key(key.wrapped) == key.plaintext
    allowed.close()


def test_configuration_errors_name_the_setting(tmp_path: Path, softhsm: SoftHsm) -> None:
    with pytest.raises(HsmError) as info:
        Pkcs11Config.from_mapping({"token": "t", "pin": "1"})
    assert "BACKBEAT_PKCS11_MODULE" in info.value.message
    with pytest.raises(HsmError) as info:
        Pkcs11Config.from_mapping({"module": softhsm.module, "token": "t"})
    assert "BACKBEAT_PKCS11_PIN" in info.value.message
    with pytest.raises(HsmError) as info:
        Pkcs11Config.from_mapping({"module": softhsm.module, "token": "t", "pin": "1", "pn": 2})
    assert "pn" in info.value.message
    pin_file = tmp_path / "pin"
    pin_file.write_text(softhsm.pin + "\n")
    config = Pkcs11Config.from_mapping(
        {"BACKBEAT_PKCS11_MODULE": softhsm.module, "token": "errors", "pin_file": str(pin_file)}
    )
    assert config.pin == softhsm.pin
    with pytest.raises(HsmError) as info:
        Pkcs11Config.from_mapping(
            {"module": softhsm.module, "token": "t", "pin_file": str(tmp_path / "absent")}
        )
    assert "absent" in info.value.message


def test_a_destroyed_key_no_longer_decrypts_and_the_current_one_cannot_go(
    softhsm: SoftHsm,
) -> None:
    p = provider(softhsm)
    first = p.create_key()
    old = p.generate_data_key()
    second = p.rotate()
    with pytest.raises(HsmError) as info:
        p.destroy(second)
    assert info.value.code == "security.hsm_key_current"
    assert p.destroy(first) is True
    with pytest.raises(UnknownKey):
        p.decrypt_data_key(old.wrapped)
    p.close()
