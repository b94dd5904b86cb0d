from __future__ import annotations

import datetime as dt

import pytest

from backbeat import i18n
from backbeat.errors import ValidationError
from backbeat.i18n import FSI, PDI, Translator, negotiate_locale, text_direction
from backbeat.validation import parse_spotify_ref


def _report(n: int) -> ValidationError:
    return ValidationError(
        "validation.report",
        details={"count": n},
        message="{count} validation problem.",
        message_plural="{count} validation problems.",
    )


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("fr-CH, fr;q=0.9, en;q=0.8", "fr"),
        ("de;q=0.3, ja;q=0.9", "ja"),
        ("xx-YY, sv;q=0.2", "sv"),
        ("*", "en"),
        ("", "en"),
        (None, "en"),
        ("pt-BR", "pt_BR"),
        ("zh-Hans-CN", "zh_Hans"),
        ("he-IL", "he"),
        ("en;q=0, fr;q=0", "en"),
        ("garbage;;;q=abc, ko", "ko"),
    ],
)
def test_negotiation_over_shipped_locales(header: str | None, expected: str) -> None:
    assert negotiate_locale(header) == expected


def test_negotiation_against_supported_locales_and_default() -> None:
    supported = ("en_US", "fr_FR", "es_ES", "de_DE")
    assert negotiate_locale("fr-CA", supported=supported, default="en_US") == "fr_FR"
    assert negotiate_locale("ja", supported=supported, default="de_DE") == "de_DE"


@pytest.mark.parametrize(
    ("locale", "chain"),
    [
        ("pt_PT", ("pt_BR", "en")),
        ("pt", ("pt_BR", "en")),
        ("zh_CN", ("zh_Hans", "en")),
        ("zh", ("zh_Hans", "en")),
        ("fr_CA", ("fr", "en")),
        ("en_GB", ("en",)),
        ("nope", ("en",)),
    ],
)
def test_fallback_chains(locale: str, chain: tuple[str, ...]) -> None:
    assert i18n.fallback_chain(locale) == chain


def test_pt_pt_user_reads_brazilian_portuguese() -> None:
    with pytest.raises(ValidationError) as info:
        parse_spotify_ref("nope")
    assert "não é um ID" in Translator("pt_PT").render(info.value)


@pytest.mark.parametrize(
    ("locale", "n", "expected"),
    [
        ("ru", 1, "1 ошибка проверки."),
        ("ru", 3, "3 ошибки проверки."),
        ("ru", 5, "5 ошибок проверки."),
        ("ru", 21, "21 ошибка проверки."),
        ("ru", 11, "11 ошибок проверки."),
        ("pl", 1, "1 problem z walidacją."),
        ("pl", 4, "4 problemy z walidacją."),
        ("pl", 12, "12 problemów z walidacją."),
        ("pl", 22, "22 problemy z walidacją."),
        ("ar", 1, "مشكلة تحقق واحدة (1)."),
        ("ar", 2, "مشكلتا تحقق (2)."),
        ("ar", 7, "7 مشكلات تحقق."),
        ("ar", 11, "11 مشكلة تحقق."),
        ("ar", 100, "100 مشكلة تحقق."),
        ("en", 1, "1 validation problem."),
        ("en", 2, "2 validation problems."),
        ("ja", 2, "検証の問題が 2 件あります。"),
    ],
)
def test_cldr_plural_forms(locale: str, n: int, expected: str) -> None:
    assert Translator(locale).render(_report(n)) == expected


def test_direction_and_bidi_isolation() -> None:
    assert text_direction("ar") == "rtl"
    assert text_direction("he_IL") == "rtl"
    assert text_direction("en") == "ltr"
    assert text_direction("ja") == "ltr"
    assert Translator("he").direction == "rtl"
    with pytest.raises(ValidationError) as info:
        parse_spotify_ref("שיר אהוב")
    text = Translator("ar").render(info.value)
    # The user's Hebrew text sits in its own isolate inside the Arabic sentence.
    assert f"{FSI}'שיר אהוב'{PDI}" in text
    assert text.endswith("open.spotify.com.")


def test_numbers_in_messages_are_localised() -> None:
    error = ValidationError(
        "validation.playlist_too_long",
        details={"max": 10000, "count": 12345},
        message="A playlist holds at most {max} items ({count} given).",
    )
    assert Translator("de").render(error) == (
        "Eine Playlist enthält höchstens 10.000 Einträge (12.345 angegeben)."
    )
    assert "10,000" in Translator("en").render(error)


def test_untranslated_developer_messages_stay_english() -> None:
    error = ValidationError(
        "validation.chunk_size",
        details={"size": 0},
        message="Chunk size must be a positive integer, got {size}.",
    )
    assert Translator("fr").render(error) == "Chunk size must be a positive integer, got 0."


def test_formatting_per_locale() -> None:
    fr, en, ja = Translator("fr"), Translator("en"), Translator("ja")
    assert fr.format_number(1234.5) == "1\u202f234,5"
    assert en.format_number(1234.5) == "1,234.5"
    assert fr.format_percent(0.256) == "26\u00a0%"
    assert en.format_currency(9.99, "USD") == "$9.99"
    assert fr.format_currency(9.99, "EUR") == "9,99\u00a0€"
    moment = dt.datetime(2024, 11, 27, 12, 0, tzinfo=dt.UTC)
    assert "13:00" in fr.format_datetime(moment, tz="Europe/Paris")
    assert "21:00" in ja.format_datetime(moment, tz="Asia/Tokyo")
    assert en.format_relative(dt.timedelta(days=3)) == "in 3 days"
    assert fr.format_relative(dt.timedelta(days=-3)) == "il y a 3 jours"
    assert en.format_track_duration(225_000) == "3:45"
    assert en.format_track_duration(3_723_000) == "1:02:03"
    assert fr.format_track_duration(3_723_000, style="words") == "1\u202fh 2\u00a0min"
    assert en.format_list(["rock", "jazz", "pop"]) == "rock, jazz, and pop"
    assert fr.format_list(["rock", "jazz", "pop"]) == "rock, jazz et pop"
