"""Music industry identifiers and their check digits.

- **ISRC** (ISO 3901): ``CC-RRR-YY-DDDDD``: country (ISO 3166-1 alpha-2, or one
  of the codes the IFPI allocates itself), 3-character registrant, 2-digit year of
  reference, 5-digit designation. No check digit. Hyphens and case are forgiven.
- **UPC-A / EAN-13** (GS1 GTIN-12/13): the last digit is the GS1 mod-10 check:
  digits weighted 3,1,3,1... from the right (excluding the check digit).
- **ISNI** (ISO 27729): 16 characters, the last a check character computed with
  ISO/IEC 7064 MOD 11-2 (``X`` stands for 10). Spaces are forgiven.
- **ISWC** (ISO 15707): ``T-DDD.DDD.DDD-C``; C = (10 - (1 + sum(i * d_i)) mod 10) mod 10
  over the nine digits, i from 1.

Each ``validate_*`` returns the normalised identifier (or its parts) and raises
:class:`~backbeat.errors.ValidationError` on anything else, never another error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from backbeat.errors import ValidationError
from backbeat.validation._places import is_country_code

__all__ = [
    "ISRCParts",
    "gs1_check_digit",
    "isni_check_char",
    "iswc_check_digit",
    "validate_isni",
    "validate_isrc",
    "validate_iswc",
    "validate_upc",
]

# Codes the IFPI allocates for ISRC outside ISO 3166 (national agencies' extra ranges).
_ISRC_EXTRA_COUNTRIES = frozenset({"QM", "QN", "QO", "QP", "QT", "QZ", "CP", "DG", "ZZ"})
_ISRC = re.compile(r"([A-Z]{2})([A-Z0-9]{3})([0-9]{2})([0-9]{5})")
_ISWC = re.compile(r"T-?(\d{3})\.?(\d{3})\.?(\d{3})-?(\d)")


def _bad(code: str, value: object, *, message: str) -> ValidationError:
    shown = value[:40] if isinstance(value, str) else type(value).__name__
    return ValidationError(code, details={"value": shown}, message=message)


def _text(value: object, code: str, message: str, limit: int = 64) -> str:
    if not isinstance(value, str) or len(value) > limit:
        raise ValidationError(
            code,
            details={"value": value[:40] if isinstance(value, str) else type(value).__name__},
            message=message,
        )
    return value.strip()


_ISRC_FORMAT = "{value!r} is not an ISRC: expected CC-RRR-YY-DDDDD (12 characters)."
_UPC_FORMAT = "{value!r} is not a UPC/EAN: expected 12 (UPC-A) or 13 (EAN-13) digits."
_ISNI_FORMAT = "{value!r} is not an ISNI: expected 15 digits and a check character (0-9 or X)."
_ISWC_FORMAT = "{value!r} is not an ISWC: expected T-DDD.DDD.DDD-C."


@dataclass(frozen=True, slots=True)
class ISRCParts:
    code: str  # normalised, 12 characters
    country: str
    registrant: str
    year: str
    designation: str

    def __str__(self) -> str:
        return self.code

    @property
    def display(self) -> str:
        """The hyphenated display form, ``CC-RRR-YY-DDDDD``."""
        return f"{self.country}-{self.registrant}-{self.year}-{self.designation}"


def validate_isrc(value: object) -> ISRCParts:
    """Parse an ISRC (``USRC17607839`` or ``US-RC1-76-07839``)."""
    text = _text(value, "validation.isrc", _ISRC_FORMAT).replace("-", "").upper()
    m = _ISRC.fullmatch(text)
    if m is None:
        raise _bad("validation.isrc", value, message=_ISRC_FORMAT)
    country = m.group(1)
    if not (is_country_code(country) or country in _ISRC_EXTRA_COUNTRIES):
        raise _bad(
            "validation.isrc_country",
            value,
            message="{value!r} is not an ISRC: it does not start with a country code.",
        )
    return ISRCParts(text, country, m.group(2), m.group(3), m.group(4))


def gs1_check_digit(digits: str) -> int:
    """The GS1 mod-10 check digit for ``digits`` (the identifier without its check digit)."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(digits)))
    return (10 - total % 10) % 10


def validate_upc(value: object) -> str:
    """A UPC-A (12 digits) or EAN-13 (13 digits) with a correct check digit."""
    text = _text(value, "validation.upc", _UPC_FORMAT).replace(" ", "").replace("-", "")
    if not (text.isascii() and text.isdigit()) or len(text) not in (12, 13):
        raise _bad("validation.upc", value, message=_UPC_FORMAT)
    if gs1_check_digit(text[:-1]) != int(text[-1]):
        raise _bad(
            "validation.upc_check",
            value,
            message="{value!r} is not a UPC/EAN: its check digit is wrong.",
        )
    return text


def isni_check_char(digits15: str) -> str:
    """ISO/IEC 7064 MOD 11-2 check character for 15 digits."""
    p = 0
    for d in digits15:
        p = (p + int(d)) * 2 % 11
    r = (12 - p) % 11
    return "X" if r == 10 else str(r)


def validate_isni(value: object) -> str:
    """An ISNI; returns the 16 characters without spaces (``000000012103268 3``)."""
    text = _text(value, "validation.isni", _ISNI_FORMAT).replace(" ", "").replace("-", "").upper()
    if (
        len(text) != 16
        or not (text[:15].isascii() and text[:15].isdigit())
        or not (text[15].isdigit() or text[15] == "X")
    ):
        raise _bad("validation.isni", value, message=_ISNI_FORMAT)
    if isni_check_char(text[:15]) != text[15]:
        raise _bad(
            "validation.isni_check",
            value,
            message="{value!r} is not an ISNI: its check character is wrong.",
        )
    return text


def iswc_check_digit(digits9: str) -> int:
    return (10 - (1 + sum(i * int(d) for i, d in enumerate(digits9, start=1))) % 10) % 10


def validate_iswc(value: object) -> str:
    """An ISWC; returns the display form ``T-DDD.DDD.DDD-C``."""
    text = _text(value, "validation.iswc", _ISWC_FORMAT).upper().replace(" ", "")
    m = _ISWC.fullmatch(text)
    if m is None:
        raise _bad("validation.iswc", value, message=_ISWC_FORMAT)
    digits = "".join(m.group(i) for i in range(1, 4))
    if iswc_check_digit(digits) != int(m.group(4)):
        raise _bad(
            "validation.iswc_check",
            value,
            message="{value!r} is not an ISWC: its check digit is wrong.",
        )
    return f"T-{m.group(1)}.{m.group(2)}.{m.group(3)}-{m.group(4)}"
