"""``Translator``: one negotiated locale, its fallbacks, messages, formats and direction.

Fallbacks: a locale that is not shipped falls back along its own tags, then to
the locale backbeat ships for its language, then to English: ``pt_PT`` ->
``pt_BR`` (the Portuguese we ship) -> ``en``; ``zh_CN``/``zh`` -> ``zh_Hans``;
``fr_CA`` -> ``fr``. Plural forms follow each catalog's CLDR rules (Russian,
Polish and Arabic have 3, 3 and 6 forms). Values interpolated into a translated
message are isolated with Unicode FSI/PDI, so a user's Hebrew playlist name in
an English sentence (or a Latin ID in an Arabic one) cannot reorder the text
around it; numbers are formatted for the locale.
"""

from __future__ import annotations

import functools
import string
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from backbeat.errors import BackbeatError
from backbeat.i18n._catalogs import LOCALES, SOURCE_LOCALE, load

__all__ = ["Translator", "fallback_chain", "isolate", "negotiate_locale", "text_direction"]

FSI, PDI = "\u2068", "\u2069"
_SHIPPED = frozenset(LOCALES)
#: The locale we ship for a language whose plain code we do not ship.
_LANGUAGE_DEFAULTS = {"pt": "pt_BR", "zh": "zh_Hans"}


def _parse(tag: str) -> Any:
    from babel import Locale, UnknownLocaleError

    try:
        return Locale.parse(tag.strip().replace("-", "_"))
    except (ValueError, TypeError, UnknownLocaleError):
        return None


@functools.cache
def fallback_chain(locale: str) -> tuple[str, ...]:
    """Shipped catalogs to try for ``locale``, most specific first, ending with ``en``."""
    parsed = _parse(locale)
    chain: list[str] = []
    if parsed is not None:
        candidates = [str(parsed)]
        if parsed.script:
            candidates.append(f"{parsed.language}_{parsed.script}")
        if parsed.language == "zh" and not parsed.script:
            # Simplified for the mainland and Singapore, per CLDR's likely subtags.
            likely = _parse(f"zh_{parsed.territory}") if parsed.territory else None
            if likely is not None and likely.script:
                candidates.append(f"zh_{likely.script}")
        candidates.append(parsed.language)
        candidates.append(_LANGUAGE_DEFAULTS.get(parsed.language, parsed.language))
        for c in candidates:
            if c in _SHIPPED and c not in chain:
                chain.append(c)
    if SOURCE_LOCALE not in chain:
        chain.append(SOURCE_LOCALE)
    return tuple(chain)


def negotiate_locale(
    accept_language: str | None,
    *,
    supported: Sequence[str] = LOCALES,
    default: str = SOURCE_LOCALE,
) -> str:
    """The best of ``supported`` for an ``Accept-Language`` header (RFC 9110 q-values).

    Each requested tag, by decreasing weight, matches a supported locale exactly,
    or else the first supported locale of the same language (``fr-CH`` -> ``fr_FR``).
    Nothing acceptable: ``default``.
    """
    requested: list[tuple[float, int, str]] = []
    for i, part in enumerate((accept_language or "")[:1000].split(",")):
        tag, _, params = part.strip().partition(";")
        if not tag:
            continue
        q = 1.0
        for p in params.split(";"):
            name, _, value = p.strip().partition("=")
            if name.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if q > 0:
            requested.append((-q, i, tag.strip()))
    pool = [(s, _parse(s)) for s in supported]
    for _, _, tag in sorted(requested):
        if tag == "*":
            return default
        want = _parse(tag)
        if want is None:
            continue
        for name, loc in pool:
            if loc is not None and str(loc) == str(want):
                return name
        for name, loc in pool:
            if loc is not None and loc.language == want.language:
                return name
    return default


def text_direction(locale: str) -> str:
    """``"rtl"`` for right-to-left scripts (Arabic, Hebrew...), ``"ltr"`` otherwise."""
    parsed = _parse(locale)
    if parsed is not None and parsed.character_order == "right-to-left":
        return "rtl"
    return "ltr"


def isolate(text: str) -> str:
    """Wrap ``text`` in FIRST STRONG ISOLATE ... POP DIRECTIONAL ISOLATE (Unicode UAX #9)."""
    return f"{FSI}{text}{PDI}"


class _Missing(str):
    """A placeholder with no value: shown as ``{name}``, never isolated."""


class _Formatter(string.Formatter):
    """``str.format`` that isolates interpolated text and formats numbers for a locale.

    Conversions (``!r``) apply to the raw value first, so ``{value!r}`` shows the
    quoted value inside the isolates, never escaped isolate characters.
    """

    def __init__(self, number: Any) -> None:
        self._number = number

    def get_value(self, key: int | str, args: Any, kwargs: Mapping[str, Any]) -> Any:
        if isinstance(key, str) and key in kwargs:
            return kwargs[key]
        return _Missing("{" + str(key) + "}")

    def convert_field(self, value: Any, conversion: str | None) -> Any:
        if isinstance(value, _Missing):
            return value
        return super().convert_field(value, conversion)

    def format_field(self, value: Any, format_spec: str) -> str:
        if isinstance(value, _Missing):
            return str(value)
        if isinstance(value, bool) or value is None:
            return isolate(format(str(value), format_spec))
        if isinstance(value, int | float) and not format_spec:
            return str(self._number(value))
        return isolate(format(value if isinstance(value, int | float) else str(value), format_spec))


class Translator:
    """Messages and formats for one locale. Cheap to build; catalogs are cached per process."""

    def __init__(self, locale: str = SOURCE_LOCALE) -> None:
        parsed = _parse(locale)
        self.locale = str(parsed) if parsed is not None else SOURCE_LOCALE
        self.chain = fallback_chain(self.locale)
        self._catalogs = [load(c) for c in self.chain]

    @classmethod
    def negotiate(
        cls,
        accept_language: str | None,
        *,
        supported: Sequence[str] = LOCALES,
        default: str = SOURCE_LOCALE,
    ) -> Translator:
        return cls(negotiate_locale(accept_language, supported=supported, default=default))

    @property
    def direction(self) -> str:
        return text_direction(self.locale)

    # -- messages ------------------------------------------------------------------------

    def gettext(self, msgid: str, *, context: str) -> str:
        """The translation of ``msgid`` under ``context``, following the fallback chain."""
        for catalog in self._catalogs:
            text = catalog.pgettext(context, msgid)
            if text != msgid:
                return text
        return msgid

    def ngettext(self, singular: str, plural: str, n: int, *, context: str) -> str:
        """The form of the message for ``n`` under the locale's CLDR plural rules."""
        for catalog in self._catalogs:
            text = catalog.npgettext(context, singular, plural, n)
            if text not in (singular, plural):
                return text
        return singular if n == 1 else plural

    def render(self, error: BackbeatError) -> str:
        """``error``'s message in this locale, details filled (strings isolated, numbers local)."""
        count = error.count
        if count is not None and error.template_plural:
            template = self.ngettext(
                error.template, error.template_plural, count, context=error.message_key
            )
        else:
            template = self.gettext(error.template, context=error.message_key)
        return self.format_message(template, error.details)

    def format_message(self, template: str, values: Mapping[str, Any]) -> str:
        """Fill ``template`` with ``values``: text isolated (FSI/PDI), numbers localised."""
        try:
            return _Formatter(self.format_number).vformat(template, (), dict(values))
        except (ValueError, IndexError, AttributeError):
            return template  # a malformed translation must not hide the error itself

    # -- formatting (Babel, CLDR data) ---------------------------------------------------------

    def format_number(self, value: float) -> str:
        from babel.numbers import format_decimal

        return str(format_decimal(value, locale=self.locale))

    def format_percent(self, value: float, *, decimals: int = 0) -> str:
        from babel.numbers import format_percent

        pattern = None if decimals == 0 else "#,##0." + "0" * decimals + "%"
        return str(format_percent(value, format=pattern, locale=self.locale))

    def format_currency(self, amount: float, currency: str) -> str:
        from babel.numbers import format_currency

        return str(format_currency(amount, currency, locale=self.locale))

    def format_datetime(self, value: Any, *, tz: str | None = None, fmt: str = "medium") -> str:
        """A date-time in the locale's pattern, converted to time zone ``tz`` (IANA name)."""
        from babel.dates import format_datetime, get_timezone

        zone = get_timezone(tz) if tz else None
        return str(format_datetime(value, format=fmt, tzinfo=zone, locale=self.locale))

    def format_date(self, value: Any, *, fmt: str = "medium") -> str:
        from babel.dates import format_date

        return str(format_date(value, format=fmt, locale=self.locale))

    def format_relative(self, delta: Any) -> str:
        """``timedelta`` from now: positive in the future (``in 3 days``), negative past."""
        from babel.dates import format_timedelta

        return str(format_timedelta(delta, add_direction=True, threshold=0.9, locale=self.locale))

    def format_track_duration(self, milliseconds: int, *, style: str = "clock") -> str:
        """``clock``: ``3:45`` or ``1:02:03``; ``words``: ``3 min 45 s``, ``1 h 2 min``."""
        total = max(0, int(milliseconds)) // 1000
        hours, rest = divmod(total, 3600)
        minutes, seconds = divmod(rest, 60)
        if style == "clock":
            return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"
        from babel.units import format_unit

        def unit(value: int, name: str) -> str:
            return str(format_unit(value, name, length="short", locale=self.locale))

        if hours:
            parts = [unit(hours, "duration-hour"), unit(minutes, "duration-minute")]
        else:
            parts = [unit(minutes, "duration-minute"), unit(seconds, "duration-second")]
        return self.format_list(parts, style="unit-narrow")

    def format_list(self, items: Iterable[str], *, style: str = "standard") -> str:
        from babel.lists import format_list

        return str(format_list(list(items), style=style, locale=self.locale))  # type: ignore[arg-type]
