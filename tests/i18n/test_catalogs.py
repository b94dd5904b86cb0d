"""Catalog completeness: every message of the source, in every locale, with the same placeholders."""

from __future__ import annotations

import string

import pytest
from babel.messages.pofile import read_po

from backbeat import i18n
from backbeat.errors import BackbeatError
from backbeat.i18n._catalogs import LOCALES_DIR
from backbeat.i18n._extract import extract
from backbeat.settings import Settings


def _placeholders(text: str) -> set[tuple[str, str | None]]:
    return {(name, conv) for _, name, _, conv in string.Formatter().parse(text) if name is not None}


def _read(name: str) -> object:
    with open(LOCALES_DIR / name, "rb") as f:
        return read_po(f, locale=None if name.endswith(".pot") else name.removesuffix(".po"))


def test_sixteen_locales_including_rtl_are_complete() -> None:
    assert set(i18n.available_locales()) == set(i18n.LOCALES)
    assert len(i18n.LOCALES) >= 16
    for required in (
        "en",
        "fr",
        "es",
        "de",
        "it",
        "pt_BR",
        "nl",
        "sv",
        "pl",
        "tr",
        "ru",
        "ja",
        "ko",
        "zh_Hans",
        "ar",
        "he",
    ):
        assert required in i18n.LOCALES


def test_template_matches_the_source() -> None:
    """A new user-facing message must be extracted and translated before it ships."""
    template = _read("backbeat.pot")
    in_pot = {
        (m.context, m.id if isinstance(m.id, str) else m.id[0])
        for m in template
        if m.id  # type: ignore[attr-defined]
    }
    in_source = {(m.context, m.msgid) for m in extract()}
    assert in_source - in_pot == set(), "run: python -m backbeat.i18n._extract, then translate"
    assert in_pot - in_source == set(), "obsolete entries: re-run the extractor"


@pytest.mark.parametrize("locale", [loc for loc in i18n.LOCALES])
def test_every_entry_is_translated_not_fuzzy_with_the_same_placeholders(locale: str) -> None:
    template = _read("backbeat.pot")
    catalog = _read(f"{locale}.po")
    entries = {(m.context, m.id if isinstance(m.id, str) else m.id[0]): m for m in catalog if m.id}  # type: ignore[attr-defined]
    for source in template:  # type: ignore[attr-defined]
        if not source.id:
            continue
        key = (source.context, source.id if isinstance(source.id, str) else source.id[0])
        entry = entries.get(key)
        assert entry is not None, f"{locale}: missing {key}"
        assert not entry.fuzzy, f"{locale}: fuzzy {key}"
        forms = entry.string if isinstance(entry.string, tuple) else (entry.string,)
        assert all(forms), f"{locale}: untranslated {key}"
        wanted = _placeholders(key[1])
        for form in forms:
            assert _placeholders(form) == wanted, f"{locale}: placeholders differ in {key}: {form}"


def test_settings_default_supports_every_shipped_locale() -> None:
    supported = Settings.from_env({}).supported_locales
    assert set(i18n.LOCALES) <= set(supported)
    assert supported[0] == "en_US"  # DEFAULT_LOCALE is always served


@pytest.mark.parametrize("locale", [loc for loc in i18n.LOCALES])
def test_every_message_renders_in_every_locale(locale: str) -> None:
    translator = i18n.Translator(locale)
    for m in extract():
        names = {n for n, _ in _placeholders(m.msgid)}
        details = {
            n: (3 if n in ("count", "max", "position", "first") else f"<{n}>") for n in names
        }
        error = BackbeatError(
            m.context, details=details, message=m.msgid, message_plural=m.msgid_plural
        )
        text = translator.render(error)
        assert "{" not in text, f"{locale}: unfilled placeholder in {text!r}"
        if locale != "en":
            assert text != error.message, f"{locale}: {m.context} was not translated"
