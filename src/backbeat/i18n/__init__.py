"""Internationalisation: 16 locales, CLDR plurals and formats, text direction.

>>> from backbeat import i18n
>>> tr = i18n.Translator.negotiate("fr-CH, fr;q=0.9, en;q=0.5")
>>> tr.locale, tr.direction
('fr', 'ltr')
>>> tr.render(error)                 # any BackbeatError, in French

Catalogs are gettext ``.po`` files under ``locales/`` (context = error code,
msgid = English template), compiled with Babel when first used. See
:mod:`backbeat.i18n._catalogs` for which messages are translated and
``python -m backbeat.i18n._extract`` to refresh them after adding messages.
"""

from __future__ import annotations

import functools

from backbeat.i18n._catalogs import LOCALES, SOURCE_LOCALE, USER_FACING, is_user_facing
from backbeat.i18n._translator import (
    FSI,
    PDI,
    Translator,
    fallback_chain,
    isolate,
    negotiate_locale,
    text_direction,
)

__all__ = [
    "FSI",
    "LOCALES",
    "PDI",
    "SOURCE_LOCALE",
    "USER_FACING",
    "Translator",
    "available_locales",
    "fallback_chain",
    "is_user_facing",
    "isolate",
    "negotiate_locale",
    "text_direction",
]


@functools.cache
def available_locales() -> tuple[str, ...]:
    """The shipped locales whose catalogs translate every message (none fuzzy)."""
    from babel.messages.pofile import read_po

    from backbeat.i18n._catalogs import LOCALES_DIR

    with open(LOCALES_DIR / "backbeat.pot", "rb") as f:
        template = read_po(f)
    wanted = {(m.context, m.id if isinstance(m.id, str) else m.id[0]) for m in template if m.id}
    complete = []
    for locale in LOCALES:
        path = LOCALES_DIR / f"{locale}.po"
        if not path.exists():
            continue
        with open(path, "rb") as f:
            catalog = read_po(f, locale=locale)
        done = {
            (m.context, m.id if isinstance(m.id, str) else m.id[0])
            for m in catalog
            if m.id
            and not m.fuzzy
            and m.string
            and all(m.string if isinstance(m.string, tuple) else [m.string])
        }
        if wanted <= done:
            complete.append(locale)
    return tuple(complete)
