"""The message catalogs: one gettext ``.po`` file per locale, compiled with Babel on load.

What is translated: the messages a *person using an application built on
backbeat* can see: refused input (Spotify refs, playlists, identifiers,
e-mail...), refused credentials and tokens, rate limits, missing things,
unavailable services. Messages about misusing backbeat's own API (a negative
chunk size, a bad retry policy) are for developers and stay in English, like
Python's own exceptions; :data:`USER_FACING` is that boundary.

Catalog entries use the error code as gettext *context* and the English
template as *msgid*, so translators see the English, and one code may have
several wordings. Each ``.po`` is read with Babel, compiled to ``.mo`` bytes
with Babel, and served by the standard library's ``gettext`` (plural forms
from each catalog's CLDR-derived ``Plural-Forms`` header).
"""

from __future__ import annotations

import functools
import gettext
import io
from pathlib import Path

__all__ = ["LOCALES", "LOCALES_DIR", "SOURCE_LOCALE", "USER_FACING", "is_user_facing", "load"]

LOCALES_DIR = Path(__file__).parent / "locales"
SOURCE_LOCALE = "en"
#: Every locale backbeat ships (ar and he are right-to-left).
LOCALES = (
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
)
USER_FACING = (
    "not_found",
    "unavailable",
    "ratelimit.",
    "security.",
    "core.timeout",
    "core.circuit_open",
    "audit.unavailable",
    "cache.unavailable",
    "validation.invalid",
    "validation.spotify",
    "validation.playlist",
    "validation.isrc",
    "validation.upc",
    "validation.isni",
    "validation.iswc",
    "validation.country",
    "validation.locale",
    "validation.email",
    "validation.duration",
    "validation.audio_features",
    "validation.password",
    "validation.report",
    "audio.",
    "validation.upload",
    "validation.too_many_ids",
    "validation.media_path",
    "validation.recommend_",
    "monitoring.",
    "analytics.",
    "billing.",
    "privacy.",
    "operations.",
)


def is_user_facing(code: str) -> bool:
    return code.startswith(USER_FACING)


@functools.cache
def load(locale: str) -> gettext.NullTranslations:
    """The compiled catalog of ``locale`` (a ``NullTranslations`` for English or unknown)."""
    path = LOCALES_DIR / f"{locale}.po"
    if locale == SOURCE_LOCALE or not path.exists():
        return gettext.NullTranslations()
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with open(path, "rb") as f:
        catalog = read_po(f, locale=locale)
    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)
