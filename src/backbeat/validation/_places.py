"""Countries, locale tags, e-mail addresses, durations and audio-feature ranges.

Countries are ISO 3166-1 alpha-2 codes from CLDR (through Babel), plus ``XK``
(Kosovo), which Spotify's market lists use; CLDR's macro-regions (EU, UN...)
and private-use codes are refused. Locale tags are BCP 47 / CLDR identifiers
(``fr``, ``pt-BR``, ``zh_Hans_CN``) that Babel knows. E-mail syntax and
normalisation come from ``email-validator`` (no DNS lookups).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from typing import Any

from backbeat.errors import ValidationError
from backbeat.spotify import AUDIO_FEATURE_RANGES, MAX_DURATION_MS
from backbeat.spotify import INTEGER_FEATURES as _INTEGER_FEATURES

__all__ = [
    "AUDIO_FEATURE_RANGES",
    "is_country_code",
    "validate_audio_features",
    "validate_country",
    "validate_duration_ms",
    "validate_email",
    "validate_locale",
]

_NOT_COUNTRIES = frozenset({"EU", "EZ", "UN", "QO", "ZZ", "XA", "XB"})


def _bad(code: str, value: object, *, message: str, **details: Any) -> ValidationError:
    shown = value[:80] if isinstance(value, str) else repr(value)[:80]
    return ValidationError(code, details={"value": shown, **details}, message=message)


@functools.cache
def _countries() -> frozenset[str]:
    from babel import Locale

    codes = {
        k for k in Locale("en").territories if isinstance(k, str) and len(k) == 2 and k.isalpha()
    }
    return frozenset(codes - _NOT_COUNTRIES)


def is_country_code(value: object) -> bool:
    return isinstance(value, str) and value in _countries()


def validate_country(value: object) -> str:
    """An ISO 3166-1 alpha-2 code, upper-cased (``se`` -> ``SE``)."""
    code = value.strip().upper() if isinstance(value, str) else None
    if code is None or not is_country_code(code):
        raise _bad(
            "validation.country", value, message="{value} is not an ISO 3166-1 country code."
        )
    return code


def validate_locale(value: object) -> str:
    """A locale tag Babel knows, normalised to CLDR form (``pt-br`` -> ``pt_BR``)."""
    from babel import Locale, UnknownLocaleError

    if not isinstance(value, str) or not value.strip() or len(value) > 35:
        raise _bad("validation.locale", value, message="{value} is not a locale tag.")
    try:
        return str(Locale.parse(value.strip().replace("-", "_")))
    except (ValueError, TypeError, UnknownLocaleError):
        raise _bad("validation.locale", value, message="{value} is not a locale tag.") from None


def validate_email(value: object) -> str:
    """A syntactically valid address, normalised (domain lower-cased, IDNA-checked)."""
    from email_validator import EmailNotValidError
    from email_validator import validate_email as check

    if not isinstance(value, str) or len(value) > 320:
        raise _bad("validation.email", value, message="{value} is not an e-mail address.")
    try:
        return check(value, check_deliverability=False).normalized
    except EmailNotValidError:
        raise _bad("validation.email", value, message="{value} is not an e-mail address.") from None


def validate_duration_ms(value: object) -> int:
    """A track duration in milliseconds: a whole number, 1 ms to 24 h."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_DURATION_MS:
        raise _bad(
            "validation.duration",
            value,
            message="{value} is not a duration in milliseconds (1 to {max}).",
            max=MAX_DURATION_MS,
        )
    return value


def validate_audio_features(features: Mapping[str, Any]) -> dict[str, Any]:
    """Check every known audio-features field against its range; unknown fields pass.

    Raises one ``ValidationError`` (``validation.audio_features``) listing every
    field out of range, not just the first.
    """
    if not isinstance(features, Mapping):
        raise _bad(
            "validation.audio_features", features, message="Audio features must be a mapping."
        )
    problems = []
    for name, (low, high) in AUDIO_FEATURE_RANGES.items():
        if name not in features or features[name] is None:
            continue
        v = features[name]
        integral = name in _INTEGER_FEATURES
        ok = isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
        ok = ok and low <= v <= high and (not integral or float(v).is_integer())
        if not ok:
            problems.append(f"{name}={v!r} (expected {low}..{high})")
    if problems:
        raise ValidationError(
            "validation.audio_features",
            details={"problems": "; ".join(problems)},
            message="Audio features out of range: {problems}.",
        )
    return dict(features)
