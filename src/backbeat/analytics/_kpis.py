"""KPIs written once in Ibis, run on whatever backend holds the source (DuckDB, PostgreSQL).

Definitions (UTC days; a period is ``start..end`` inclusive):

- ``dau[d]``: distinct users with at least one event on day d; ``wau[d]`` / ``mau[d]``:
  distinct users with an event in the 7 / 30 days ending on d; ``stickiness``: mean DAU /
  mean MAU over the period.
- ``listening_hours[d]``: sum of ``ms_played`` on d / 3,600,000.
- ``sessions[d]``: sessions starting on d; a session starts at a user's first event or at an
  event more than 30 minutes after that user's previous one (previous events before the
  period count).
- ``new_users[d]``: users whose first event ever is on d.
- ``mrr[month]``: sum of the monthly ``price`` of subscriptions active at the month's last
  instant (started at or before it, not ended by then), for the months the period touches.
- ``revenue``: charges minus refunds paid in the period; ``arpu``: revenue / users active in
  the period; ``arppu``: revenue / users who paid in the period.
- ``retention[cohort_month]``: for users whose first event falls in that month, the share
  active in each month from the cohort's (index 0, always 1.0) to the period's end month.
- ``returning_users[d]`` / ``resurrected_users[d]``: active on d, not new, and last active
  at most / more than 30 days before (with ``new_users`` they partition DAU).
- ``mrr_movements[month]``: each subscriber's MRR change between the month's start and end
  as new, reactivated (subscribed before), expansion, contraction, churned, and ``net``
  (which equals the MRR change); ``logo_churn``: subscribers at the start who are not at
  the end / subscribers at the start; ``revenue_churn``: (churned + contraction) / MRR at
  the start.
- ``conversion``: users whose first subscription starts in the period / users active in
  the period who had none when it began.
"""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass, field
from typing import Any

import ibis
import pandas as pd

from backbeat.analytics._errors import input_error
from backbeat.analytics._source import Source

__all__ = ["Kpis", "Period", "compute_kpis", "parse_period"]

SESSION_GAP_S = 30 * 60


@dataclass(frozen=True, slots=True)
class Period:
    start: dt.date
    end: dt.date

    def days(self) -> list[dt.date]:
        return [self.start + dt.timedelta(days=i) for i in range((self.end - self.start).days + 1)]

    def __str__(self) -> str:
        return f"{self.start.isoformat()}..{self.end.isoformat()}"


def parse_period(text: str, *, today: dt.date | None = None) -> Period:
    """``YYYY-MM-DD..YYYY-MM-DD`` or ``last_N_days`` (ending ``today``)."""
    value = text.strip()
    if value.startswith("last_") and value.endswith("_days"):
        middle = value[len("last_") : -len("_days")]
        if middle.isdigit() and int(middle) > 0:
            end = today or dt.datetime.now(dt.UTC).date()
            return Period(end - dt.timedelta(days=int(middle) - 1), end)
    start_text, sep, end_text = value.partition("..")
    try:
        if not sep:
            raise ValueError
        period = Period(dt.date.fromisoformat(start_text), dt.date.fromisoformat(end_text))
    except ValueError:
        raise input_error(
            "--period", "period", "-", f"{value!r} is not YYYY-MM-DD..YYYY-MM-DD or last_N_days"
        ) from None
    if period.end < period.start:
        raise input_error("--period", "period", "-", "ends before it starts")
    return period


@dataclass
class Kpis:
    period: Period
    dau: dict[str, int] = field(default_factory=dict)
    wau: dict[str, int] = field(default_factory=dict)
    mau: dict[str, int] = field(default_factory=dict)
    new_users: dict[str, int] = field(default_factory=dict)
    sessions: dict[str, int] = field(default_factory=dict)
    listening_hours: dict[str, float] = field(default_factory=dict)
    stickiness: float = 0.0
    active_users: int = 0
    mrr: dict[str, float] = field(default_factory=dict)
    revenue: float | None = None
    arpu: float | None = None
    arppu: float | None = None
    currency: str | None = None
    retention: dict[str, list[float]] = field(default_factory=dict)
    predictions: dict[str, Any] = field(default_factory=dict)
    returning: dict[str, int] = field(default_factory=dict)
    resurrected: dict[str, int] = field(default_factory=dict)
    mrr_movements: dict[str, dict[str, float]] = field(default_factory=dict)
    logo_churn: dict[str, float | None] = field(default_factory=dict)
    revenue_churn: dict[str, float | None] = field(default_factory=dict)
    conversion: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "period": str(self.period),
            "dau": self.dau,
            "wau": self.wau,
            "mau": self.mau,
            "new_users": self.new_users,
            "sessions": self.sessions,
            "listening_hours": self.listening_hours,
            "stickiness": self.stickiness,
            "active_users": self.active_users,
            "mrr": self.mrr,
            "revenue": self.revenue,
            "arpu": self.arpu,
            "arppu": self.arppu,
            "currency": self.currency,
            "retention": self.retention,
            "returning_users": self.returning,
            "resurrected_users": self.resurrected,
            "mrr_movements": self.mrr_movements,
            "logo_churn": self.logo_churn,
            "revenue_churn": self.revenue_churn,
            "conversion": self.conversion,
            **({"predictions": self.predictions} if self.predictions else {}),
        }


def _ts(day: dt.date) -> Any:
    return ibis.timestamp(dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC))


def _series(
    frame: pd.DataFrame, key: str, value: str, days: list[dt.date], kind: type
) -> dict[str, Any]:
    found = {
        pd.Timestamp(k).date().isoformat(): v for k, v in zip(frame[key], frame[value], strict=True)
    }
    return {d.isoformat(): kind(found.get(d.isoformat(), 0) or 0) for d in days}


def _rolling(user_days: Any, days: list[dt.date], width: int) -> dict[str, int]:
    """Distinct users active in the ``width`` days ending on each day, in O(user-days).

    A user active on ``day`` counts for the days ``day .. day + width - 1``, cut short by
    their next active day (which starts a new stretch): the stretches of one user never
    overlap, so the distinct count is a running sum of +1 at each stretch's start and -1
    after its end, with no join and no distinct over a window."""
    w = ibis.window(group_by=user_days.user_id, order_by=user_days.day)
    nxt = user_days.day.lead().over(w)
    last = user_days.day + ibis.interval(days=width - 1)
    stretch = user_days.mutate(
        stop=ibis.cases(
            (nxt.isnull(), last),
            (nxt - ibis.interval(days=1) < last, nxt - ibis.interval(days=1)),
            else_=last,
        )
    )
    plus = stretch.group_by(d=stretch.day).aggregate(delta=stretch.count())
    minus = stretch.group_by(d=stretch.stop + ibis.interval(days=1)).aggregate(
        delta=-stretch.count()
    )
    deltas = plus.union(minus).group_by("d").aggregate(delta=ibis._.delta.sum())
    frame = deltas.order_by("d").to_pyarrow().to_pandas()
    running: dict[str, int] = {}
    total = 0
    stamps = [pd.Timestamp(d).date() for d in frame["d"]]
    values = [int(v) for v in frame["delta"]]
    i = 0
    for day in days:
        while i < len(stamps) and stamps[i] <= day:
            total += values[i]
            i += 1
        running[day.isoformat()] = total
    return running


def compute_kpis(source: Source, period: Period) -> Kpis:
    """Every KPI above for ``period``, from ``source``'s backend."""
    ev = source.tables["events"]
    start, after = _ts(period.start), _ts(period.end + dt.timedelta(days=1))
    span = ev.aggregate(lo=ev.timestamp.min(), hi=ev.timestamp.max()).to_pyarrow().to_pandas()
    lo, hi = span["lo"].iloc[0], span["hi"].iloc[0]
    if (
        pd.isna(lo)
        or pd.Timestamp(hi).date() < period.start
        or pd.Timestamp(lo).date() > period.end
    ):
        raise input_error(
            source.origin, "timestamp", "-", f"the period {period} is outside the data"
        )
    days = period.days()
    out = Kpis(period)
    in_period = ev.filter((ev.timestamp >= start) & (ev.timestamp < after))
    daily = (
        in_period.group_by(day=in_period.timestamp.date())
        .aggregate(dau=in_period.user_id.nunique(), ms=in_period.ms_played.sum())
        .to_pyarrow()
        .to_pandas()
    )
    out.dau = _series(daily, "day", "dau", days, int)
    hours = _series(daily, "day", "ms", days, float)
    out.listening_hours = {k: round(v / 3_600_000, 6) for k, v in hours.items()}
    # Every (user, active day) up to the period's end, computed once and kept on the backend:
    # rolling WAU/MAU, new, returning and resurrected users and the cohorts all read it.
    pairs = ev.filter(ev.timestamp < after)
    with pairs.select(user_id=pairs.user_id, day=pairs.timestamp.date()).distinct().cache() as ud:
        recent = ud.filter(ud.day >= period.start - dt.timedelta(days=29))
        out.wau = _rolling(recent, days, 7)
        out.mau = _rolling(recent, days, 30)
        firsts = ud.group_by(ud.user_id).aggregate(first=ud.day.min())
        new = firsts.filter(firsts.first >= period.start)
        counted = new.group_by(day=new.first).aggregate(n=new.user_id.count())
        out.new_users = _series(counted.to_pyarrow().to_pandas(), "day", "n", days, int)
        out.retention = _retention(ud, period)
        out.returning, out.resurrected = _returning(ud, period, days)
    mean_mau = sum(out.mau.values()) / len(days)
    out.stickiness = round(sum(out.dau.values()) / len(days) / mean_mau, 6) if mean_mau else 0.0
    out.active_users = int(in_period.user_id.nunique().to_pyarrow().as_py())
    # Only the 30 minutes before the period can decide whether its first plays continue a
    # session: a play with no predecessor in that span starts one either way.
    near = ev.filter(
        (ev.timestamp >= _ts(period.start) - ibis.interval(seconds=SESSION_GAP_S))
        & (ev.timestamp < after)
    )
    w = ibis.window(group_by=near.user_id, order_by=near.timestamp)
    marked = near.mutate(prev=near.timestamp.lag().over(w))
    starts = marked.filter(
        (
            marked.prev.isnull()
            | (marked.timestamp > marked.prev + ibis.interval(seconds=SESSION_GAP_S))
        )
        & (marked.timestamp >= start)
        & (marked.timestamp < after)
    )
    out.sessions = _series(
        starts.group_by(day=starts.timestamp.date())
        .aggregate(n=starts.count())
        .to_pyarrow()
        .to_pandas(),
        "day",
        "n",
        days,
        int,
    )
    if source.has("subscriptions"):
        subs = source.tables["subscriptions"]
        out.mrr = _mrr(subs, period)
        out.mrr_movements, out.logo_churn, out.revenue_churn = _movements(subs, period)
        out.conversion = _conversion(ev, subs, period)
    if source.has("payments"):
        pay = source.tables["payments"]
        paid = pay.filter((pay.paid_at >= start) & (pay.paid_at < after))
        signed = ibis.cases((paid.kind == "refund", -paid.amount.abs()), else_=paid.amount)
        revenue = float(signed.sum().to_pyarrow().as_py() or 0.0)
        charges = paid.filter(paid.kind == "charge")
        payers = int(charges.user_id.nunique().to_pyarrow().as_py() or 0)
        out.revenue = round(revenue, 6)
        out.arpu = round(revenue / out.active_users, 6) if out.active_users else None
        out.arppu = round(revenue / payers, 6) if payers else None
    out.currency = source.currency
    return out


def _month_index(column: Any) -> Any:
    return column.year() * 12 + column.month() - 1


def _retention(user_days: Any, period: Period) -> dict[str, list[float]]:
    """Monthly cohorts from (user, active day) pairs up to the period's end."""
    months = user_days.select(user_id=user_days.user_id, m=_month_index(user_days.day)).distinct()
    firsts = months.group_by(months.user_id).aggregate(cohort=months.m.min())
    joined = months.join(firsts, "user_id")
    counts = (
        joined.group_by(joined.cohort, k=joined.m - joined.cohort)
        .aggregate(n=joined.user_id.nunique())
        .to_pyarrow()
        .to_pandas()
    )
    last = period.end.year * 12 + period.end.month - 1
    out: dict[str, list[float]] = {}
    for cohort, rows in counts.groupby("cohort"):
        size = int(rows.loc[rows["k"] == 0, "n"].sum())
        by_k = dict(zip(rows["k"].astype(int), rows["n"].astype(int), strict=True))
        label = f"{int(cohort) // 12:04d}-{int(cohort) % 12 + 1:02d}"
        out[label] = [round(by_k.get(k, 0) / size, 6) for k in range(last - int(cohort) + 1)]
    return dict(sorted(out.items()))


def _mrr(subs: Any, period: Period) -> dict[str, float]:
    out: dict[str, float] = {}
    month = dt.date(period.start.year, period.start.month, 1)
    while month <= period.end:
        following = dt.date(month.year + month.month // 12, month.month % 12 + 1, 1)
        edge = _ts(following)  # the month's last instant is just before this
        active = subs.filter(
            (subs.started_at < edge) & (subs.ended_at.isnull() | (subs.ended_at >= edge))
        )
        value = active.price.sum().to_pyarrow().as_py()
        out[month.strftime("%Y-%m")] = round(float(value or 0.0), 6)
        month = following
    return out


def _returning(
    pairs: Any, period: Period, days: list[dt.date]
) -> tuple[dict[str, int], dict[str, int]]:
    """Per day: users back within 30 days of their previous active day (returning) and
    users back after a longer absence (resurrected); new users are neither. ``pairs``:
    (user, active day) up to the period's end."""
    w = ibis.window(group_by=pairs.user_id, order_by=pairs.day)
    marked = pairs.mutate(prev=pairs.day.lag().over(w))
    inside = marked.filter(
        (marked.day >= period.start) & (marked.day <= period.end) & marked.prev.notnull()
    )
    back = inside.mutate(
        long=(inside.day.epoch_seconds() - inside.prev.epoch_seconds()) > 30 * 86400
    )
    counts = back.group_by(back.day, back.long).aggregate(n=back.count()).to_pyarrow().to_pandas()
    returning = counts[~counts["long"]]
    resurrected = counts[counts["long"]]
    return (
        _series(returning, "day", "n", days, int),
        _series(resurrected, "day", "n", days, int),
    )


def _month_edges(period: Period) -> list[dt.date]:
    """First days of the months from the one before the period's first to the one after its last."""
    first = dt.date(period.start.year, period.start.month, 1)
    month = dt.date(first.year - (first.month == 1), (first.month - 2) % 12 + 1, 1)
    out = [month]
    while out[-1] <= period.end:
        m = out[-1]
        out.append(dt.date(m.year + m.month // 12, m.month % 12 + 1, 1))
    return out


def _user_mrr(subs: Any, edge: dt.date) -> pd.Series:
    at = _ts(edge)
    active = subs.filter((subs.started_at < at) & (subs.ended_at.isnull() | (subs.ended_at >= at)))
    frame = (
        active.group_by(active.user_id).aggregate(mrr=active.price.sum()).to_pyarrow().to_pandas()
    )
    return pd.Series(frame["mrr"].to_numpy(float), index=frame["user_id"].astype(str))


def _movements(
    subs: Any, period: Period
) -> tuple[dict[str, dict[str, float]], dict[str, float | None], dict[str, float | None]]:
    """MRR movements per month (new, expansion, contraction, churned, reactivated: the
    change of each user's MRR between the month's start and end), logo churn (subscribers at
    the start who are not at the end / subscribers at the start) and revenue churn ((churned
    + contraction) / MRR at the start)."""
    firsts = (
        subs.group_by(subs.user_id).aggregate(first=subs.started_at.min()).to_pyarrow().to_pandas()
    )
    first_start = pd.Series(
        pd.to_datetime(firsts["first"], utc=True).to_numpy(), index=firsts["user_id"].astype(str)
    )
    edges = _month_edges(period)
    mrr_at = {edge: _user_mrr(subs, edge) for edge in edges[1:]}
    mrr_at[edges[0]] = _user_mrr(subs, edges[0])
    movements: dict[str, dict[str, float]] = {}
    logo: dict[str, float | None] = {}
    revenue: dict[str, float | None] = {}
    for begin, end in itertools.pairwise(edges):
        if end <= dt.date(period.start.year, period.start.month, 1):
            continue
        before, after = mrr_at[begin], mrr_at[end]
        users = before.index.union(after.index)
        b = before.reindex(users, fill_value=0.0)
        a = after.reindex(users, fill_value=0.0)
        earlier = first_start.reindex(users) < pd.Timestamp(begin, tz="UTC")
        started = (b == 0) & (a > 0)
        label = begin.strftime("%Y-%m")
        moves = {
            "new": float(a[started & ~earlier].sum()),
            "reactivated": float(a[started & earlier].sum()),
            "expansion": float((a - b)[(b > 0) & (a > b)].sum()),
            "contraction": float(-(b - a)[(a > 0) & (a < b)].sum()),
            "churned": float(-b[(b > 0) & (a == 0)].sum()),
        }
        movements[label] = {k: round(v, 6) + 0.0 for k, v in moves.items()}  # no -0.0
        movements[label]["net"] = round(sum(moves.values()), 6)
        subscribers = int((b > 0).sum())
        logo[label] = (
            round(int(((b > 0) & (a == 0)).sum()) / subscribers, 6) if subscribers else None
        )
        start_mrr = float(b.sum())
        revenue[label] = (
            round(-(moves["churned"] + moves["contraction"]) / start_mrr, 6) if start_mrr else None
        )
    return movements, logo, revenue


def _conversion(ev: Any, subs: Any, period: Period) -> float | None:
    """Users whose first subscription starts in the period / users active in the period
    who had no subscription when it began."""
    start, after = _ts(period.start), _ts(period.end + dt.timedelta(days=1))
    active = (
        ev.filter((ev.timestamp >= start) & (ev.timestamp < after)).select("user_id").distinct()
    )
    firsts = subs.group_by(subs.user_id).aggregate(first=subs.started_at.min())
    # Outer and inner joins, not anti/semi joins: ibis's semi join is not valid SQL on
    # PostgreSQL with the pinned sqlglot.
    before = firsts.filter(firsts.first < start).select(b_user=firsts.user_id)
    converted = firsts.filter((firsts.first >= start) & (firsts.first < after)).select(
        c_user=firsts.user_id
    )
    free = (
        active.left_join(before, active.user_id == before.b_user)
        .filter(ibis._.b_user.isnull())
        .select("user_id")
    )
    pool = int(free.count().to_pyarrow().as_py())
    if not pool:
        return None
    hits = int(free.join(converted, free.user_id == converted.c_user).count().to_pyarrow().as_py())
    return round(hits / pool, 6)
