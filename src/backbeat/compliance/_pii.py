"""Finding personal data in text and in table columns.

Each kind is a pattern and, where the format has one, a validation that removes look-alikes:

- ``email``: the address shape (local part, a dotted domain);
- ``phone``: Google's libphonenumber (``phonenumbers``): numbers in international form
  anywhere, national forms for ``regions``; only valid numbers;
- ``iban``: country code, check digits, then the ISO 13616 mod-97 check;
- ``card``: 13-19 digits (spaces or dashes allowed) passing the Luhn check;
- ``ip``: IPv4 and IPv6 addresses, parsed by :mod:`ipaddress`;
- ``spotify_user``: ``spotify:user:ID`` and ``open.spotify.com/user/ID``.

:func:`find_pii` returns the matches, :func:`redact` replaces them with ``[KIND]``,
:func:`scan_frame` counts kinds per column, :func:`scan_file` does either for a file
(``backbeat privacy scan FILE``).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backbeat.compliance._errors import anonymization_error

__all__ = ["KINDS", "PiiMatch", "find_pii", "redact", "scan_file", "scan_frame"]

KINDS = ("email", "phone", "iban", "card", "ip", "spotify_user")

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b")
_CARD = re.compile(r"(?<![\d-])(?:\d[ -]?){12,18}\d(?![\d-])")
_IPV4 = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.])")
_IPV6 = re.compile(r"(?<![\w:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:])")
_SPOTIFY_USER = re.compile(
    r"spotify:user:[A-Za-z0-9._-]+|(?:https?://)?open\.spotify\.com/user/[A-Za-z0-9._-]+"
)


@dataclass(frozen=True, slots=True)
class PiiMatch:
    kind: str
    start: int
    end: int
    text: str


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _iban_ok(text: str) -> bool:
    compact = text.replace(" ", "")
    if not 15 <= len(compact) <= 34:
        return False
    moved = compact[4:] + compact[:4]
    number = "".join(str(int(ch, 36)) for ch in moved)
    return int(number) % 97 == 1


def _ip_ok(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def find_pii(
    text: str, *, kinds: Iterable[str] = KINDS, regions: Sequence[str] = ("US", "GB", "FR", "DE")
) -> list[PiiMatch]:
    """Every piece of personal data of ``kinds`` in ``text``, in order, without overlaps."""
    wanted = set(kinds)
    unknown = wanted - set(KINDS)
    if unknown:
        raise anonymization_error(
            "compliance.pii_kind",
            "Unknown personal-data kinds {kinds}: use {known}.",
            kinds=", ".join(sorted(unknown)),
            known=", ".join(KINDS),
        )
    found: list[PiiMatch] = []

    def add(kind: str, match: re.Match[str]) -> None:
        found.append(PiiMatch(kind, match.start(), match.end(), match.group(0)))

    if "email" in wanted:
        for m in _EMAIL.finditer(text):
            add("email", m)
    if "spotify_user" in wanted:
        for m in _SPOTIFY_USER.finditer(text):
            add("spotify_user", m)
    if "iban" in wanted:
        for m in _IBAN.finditer(text):
            if _iban_ok(m.group(0)):
                add("iban", m)
    if "card" in wanted:
        for m in _CARD.finditer(text):
            digits = re.sub(r"[ -]", "", m.group(0))
            if 13 <= len(digits) <= 19 and _luhn(digits):
                add("card", m)
    if "ip" in wanted:
        for pattern in (_IPV4, _IPV6):
            for m in pattern.finditer(text):
                if _ip_ok(m.group(0)):
                    add("ip", m)
    if "phone" in wanted:
        import phonenumbers

        seen: set[tuple[int, int]] = set()
        for region in (None, *regions):
            for pm in phonenumbers.PhoneNumberMatcher(
                text, region, leniency=phonenumbers.Leniency.VALID
            ):
                if (pm.start, pm.end) not in seen:
                    seen.add((pm.start, pm.end))
                    found.append(PiiMatch("phone", pm.start, pm.end, pm.raw_string))
    found.sort(key=lambda m: (m.start, -(m.end - m.start)))
    kept: list[PiiMatch] = []
    for match in found:  # the first (longest) match at a position wins; no overlaps
        if kept and match.start < kept[-1].end:
            continue
        kept.append(match)
    return kept


def redact(text: str, **options: Any) -> str:
    """``text`` with each piece of personal data replaced by ``[KIND]``."""
    out, last = [], 0
    for match in find_pii(text, **options):
        out.append(text[last : match.start])
        out.append(f"[{match.kind.upper()}]")
        last = match.end
    out.append(text[last:])
    return "".join(out)


def scan_frame(frame: Any, **options: Any) -> dict[str, dict[str, int]]:
    """Per column, how many values hold each kind (columns with none are left out)."""
    report: dict[str, dict[str, int]] = {}
    for column in frame.columns:
        counts: dict[str, int] = {}
        for value in frame[column].dropna().astype(str).unique():
            kinds = {m.kind for m in find_pii(value, **options)}
            if kinds:
                n = int((frame[column].astype(str) == value).sum())
                for kind in kinds:
                    counts[kind] = counts.get(kind, 0) + n
        if counts:
            report[str(column)] = counts
    return report


def scan_file(path: Path, **options: Any) -> dict[str, Any]:
    """A CSV's columns (``{"columns": {column: {kind: n}}}``) or a text file's lines
    (``{"lines": [{"line", "kind", "text"}]}``, the text redacted)."""
    if not path.is_file():
        raise anonymization_error(
            "compliance.scan_file", "The file {file} does not exist.", file=str(path)
        )
    if path.suffix.lower() == ".csv":
        import pandas as pd

        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        return {"file": str(path), "columns": scan_frame(frame, **options)}
    hits = []
    with path.open(encoding="utf-8", errors="replace") as f:
        for number, line in enumerate(f, 1):
            for match in find_pii(line, **options):
                hits.append({"line": number, "kind": match.kind})
    return {"file": str(path), "lines": hits}
