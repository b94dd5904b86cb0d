"""Durations for retention policies, and the legal deadlines of data-subject requests.

Retention: ``"90_days"``, ``"18_months"``, ``"7_years"`` (also ``weeks``; singular or plural)
or an ISO-8601 duration (``P90D``, ``P7Y``, ``P1Y6M``, ``PT12H``). Months and years are
calendar months and years (31 March minus one month is 28 or 29 February).

Deadlines: GDPR Art. 12(3): one month from receipt, extendable by two further months;
CCPA (Cal. Civ. Code 1798.130): 45 days, extendable once by 45 days.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass

from backbeat.errors import ValidationError

__all__ = ["JURISDICTIONS", "Duration", "due_date", "parse_duration"]

_WORDS = re.compile(r"^(\d+)_(day|week|month|year)s?$")
_ISO = re.compile(
    r"^P(?:(?P<y>\d+)Y)?(?:(?P<mo>\d+)M)?(?:(?P<w>\d+)W)?(?:(?P<d>\d+)D)?"
    r"(?:T(?:(?P<h>\d+)H)?(?:(?P<mi>\d+)M)?(?:(?P<s>\d+)S)?)?$"
)


@dataclass(frozen=True, slots=True)
class Duration:
    """Calendar months (years as 12) plus an exact span."""

    months: int = 0
    span: dt.timedelta = dt.timedelta(0)
    text: str = ""

    def before(self, moment: dt.datetime) -> dt.datetime:
        return _add_months(moment, -self.months) - self.span

    def after(self, moment: dt.datetime) -> dt.datetime:
        return _add_months(moment, self.months) + self.span

    def __str__(self) -> str:
        return self.text


def _add_months(moment: dt.datetime, months: int) -> dt.datetime:
    index = moment.year * 12 + moment.month - 1 + months
    year, month = divmod(index, 12)
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)


def parse_duration(text: str) -> Duration:
    """``"7_years"``, ``"90_days"``, ``"P1Y6M"``... (see the module's text)."""
    value = text.strip()
    words = _WORDS.match(value.lower())
    if words:
        n, unit = int(words.group(1)), words.group(2)
        if unit == "year":
            return Duration(months=12 * n, text=value)
        if unit == "month":
            return Duration(months=n, text=value)
        days = n * (7 if unit == "week" else 1)
        return Duration(span=dt.timedelta(days=days), text=value)
    iso = _ISO.match(value.upper())
    if iso and any(iso.groupdict().values()):
        g = {k: int(v) if v else 0 for k, v in iso.groupdict().items()}
        span = dt.timedelta(
            weeks=g["w"], days=g["d"], hours=g["h"], minutes=g["mi"], seconds=g["s"]
        )
        return Duration(months=12 * g["y"] + g["mo"], span=span, text=value)
    raise ValidationError(
        "compliance.duration",
        details={"value": text[:60]},
        message=(
            "{value!r} is not a retention period: use N_days, N_weeks, N_months, N_years "
            "or an ISO-8601 duration such as P90D or P7Y."
        ),
    )


#: jurisdiction -> (time to answer, the most it may be extended by)
JURISDICTIONS: dict[str, tuple[Duration, Duration]] = {
    "gdpr": (Duration(months=1, text="1 month"), Duration(months=2, text="2 months")),
    "ccpa": (
        Duration(span=dt.timedelta(days=45), text="45 days"),
        Duration(span=dt.timedelta(days=45), text="45 days"),
    ),
}


def due_date(received_at: dt.datetime, jurisdiction: str, *, extended: bool = False) -> dt.datetime:
    """When a request received at ``received_at`` must be answered."""
    if jurisdiction not in JURISDICTIONS:
        raise ValidationError(
            "privacy.jurisdiction",
            details={"value": jurisdiction[:20], "known": ", ".join(JURISDICTIONS)},
            message="Unknown jurisdiction {value!r}: use {known}.",
        )
    base, extension = JURISDICTIONS[jurisdiction]
    due = base.after(received_at)
    return extension.after(due) if extended else due
