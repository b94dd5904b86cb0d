from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backbeat.errors import ValidationError
from backbeat.validation import (
    gs1_check_digit,
    isni_check_char,
    iswc_check_digit,
    validate_audio_features,
    validate_country,
    validate_duration_ms,
    validate_email,
    validate_isni,
    validate_isrc,
    validate_iswc,
    validate_locale,
    validate_upc,
)


@pytest.mark.parametrize(
    ("given_", "code", "parts"),
    [
        ("USRC17607839", "USRC17607839", ("US", "RC1", "76", "07839")),
        ("us-rc1-76-07839", "USRC17607839", ("US", "RC1", "76", "07839")),
        ("GBAYE0601498", "GBAYE0601498", ("GB", "AYE", "06", "01498")),
        ("QZES71900001", "QZES71900001", ("QZ", "ES7", "19", "00001")),  # IFPI-allocated prefix
    ],
)
def test_isrc_valid(given_: str, code: str, parts: tuple[str, ...]) -> None:
    isrc = validate_isrc(given_)
    assert isrc.code == code
    assert (isrc.country, isrc.registrant, isrc.year, isrc.designation) == parts
    assert isrc.display == f"{parts[0]}-{parts[1]}-{parts[2]}-{parts[3]}"


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "USRC1760783",
        "USRC176078391",
        "USRC1760783X",
        "U1RC17607839",
        "XXRC17607839",
        "US RC1 76 07839 extra",
        "ÜSRC17607839",
        None,
        123456789012,
    ],
)
def test_isrc_invalid(bad: object) -> None:
    with pytest.raises(ValidationError) as info:
        validate_isrc(bad)
    assert info.value.code.startswith("validation.isrc")


@pytest.mark.parametrize("good", ["036000291452", "4006381333931", "0 36000 29145 2"])
def test_upc_valid(good: str) -> None:
    assert validate_upc(good) == good.replace(" ", "")


@pytest.mark.parametrize(
    "bad",
    [
        "036000291453",
        "036000291451",
        "4006381333932",
        "03600029145",
        "03600029145a",
        "",
        "٠٣٦٠٠٠٢٩١٤٥٢",
    ],
)
def test_upc_invalid_including_off_by_one_check_digits(bad: str) -> None:
    with pytest.raises(ValidationError):
        validate_upc(bad)


@pytest.mark.parametrize(
    ("good", "norm"),
    [
        ("0000 0001 2103 2683", "0000000121032683"),
        ("0000 0001 2146 438X", "000000012146438X"),
        ("000000012146438x", "000000012146438X"),
    ],
)
def test_isni_valid(good: str, norm: str) -> None:
    assert validate_isni(good) == norm


@pytest.mark.parametrize(
    "bad",
    [
        "0000 0001 2103 2684",
        "0000 0001 2103 268X",
        "0000 0001 2146 4381",
        "123",
        "X000 0001 2103 2683",
    ],
)
def test_isni_invalid(bad: str) -> None:
    with pytest.raises(ValidationError):
        validate_isni(bad)


@pytest.mark.parametrize("good", ["T-034.524.680-1", "T0345246801", "t-034.524.680-1"])
def test_iswc_valid(good: str) -> None:
    assert validate_iswc(good) == "T-034.524.680-1"


@pytest.mark.parametrize(
    "bad", ["T-034.524.680-2", "T-034.524.680-0", "034.524.680-1", "T-34.524.680-1"]
)
def test_iswc_invalid(bad: str) -> None:
    with pytest.raises(ValidationError):
        validate_iswc(bad)


@given(st.text(alphabet="0123456789", min_size=11, max_size=12))
def test_gs1_check_digit_round_trip(body: str) -> None:
    code = body + str(gs1_check_digit(body))
    assert validate_upc(code) == code
    wrong = body + str((gs1_check_digit(body) + 1) % 10)
    with pytest.raises(ValidationError):
        validate_upc(wrong)


@given(st.text(alphabet="0123456789", min_size=15, max_size=15))
def test_isni_check_round_trip(body: str) -> None:
    assert validate_isni(body + isni_check_char(body)) == body + isni_check_char(body)


@given(st.text(alphabet="0123456789", min_size=9, max_size=9))
def test_iswc_check_round_trip(body: str) -> None:
    validate_iswc(f"T{body}{iswc_check_digit(body)}")


@given(st.one_of(st.text(max_size=100), st.binary(max_size=20), st.integers(), st.none()))
def test_identifier_validators_raise_only_validation_errors(value: object) -> None:
    for fn in (
        validate_isrc,
        validate_upc,
        validate_isni,
        validate_iswc,
        validate_country,
        validate_locale,
        validate_email,
    ):
        with contextlib.suppress(ValidationError):
            fn(value)


def test_country_locale_email_duration() -> None:
    assert validate_country("se") == "SE"
    assert validate_country("XK") == "XK"
    for bad in ("EU", "UN", "ZZ", "XX", "SWE", ""):
        with pytest.raises(ValidationError):
            validate_country(bad)
    assert validate_locale("pt-br") == "pt_BR"
    assert validate_locale("zh_Hans_CN") == "zh_Hans_CN"
    with pytest.raises(ValidationError):
        validate_locale("xx-nope")
    assert validate_email("Ana@Example.COM") == "Ana@example.com"
    for bad in ("ana", "ana@", "@example.com", "a b@example.com"):
        with pytest.raises(ValidationError):
            validate_email(bad)
    assert validate_duration_ms(225_000) == 225_000
    for bad in (0, -1, 1.5, True, 25 * 3600 * 1000):
        with pytest.raises(ValidationError):
            validate_duration_ms(bad)


def test_audio_features_report_every_field_out_of_range() -> None:
    ok = {
        "danceability": 0.7,
        "energy": 0.5,
        "key": -1,
        "mode": 1,
        "loudness": -5.2,
        "tempo": 120.0,
        "time_signature": 4,
        "duration_ms": 200_000,
        "valence": 1.0,
    }
    assert validate_audio_features(ok) == ok
    with pytest.raises(ValidationError) as info:
        validate_audio_features({"energy": 1.2, "key": 12, "mode": 0.5, "tempo": float("nan")})
    text = info.value.message
    assert all(name in text for name in ("energy", "key", "mode", "tempo"))
