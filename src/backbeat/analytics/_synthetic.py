"""Synthetic listening, subscriptions and payments with planted truth, from a seed.

Users sign up at a growing rate; each listens on a share of days with weekly (weekends
+30%) and yearly (+-10%) seasonality; some churn, and in the 14 days before leaving they
play less and skip more (the churn drivers); some convert from free to premium (9.99 a
month), three times as often during a promotion window (days 60-74); premium users are
charged every 30 days while subscribed, and 2% of charges are refunded. ``truth.json``
records what was planted (churn days, conversions, promotion window) so that models can
be checked against it. Same seed, same files.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["generate"]

PRICE = 9.99
CURRENCY = "EUR"
TRACKS = 5000
PROMOTION = (60, 74)


def generate(
    users: int,
    days: int,
    seed: int,
    out: Path | None = None,
    *,
    start: dt.date = dt.date(2025, 1, 1),
    file_format: str = "parquet",
) -> dict[str, pd.DataFrame]:
    """The three tables (and ``truth``); written to ``out`` when given."""
    rng = np.random.default_rng(seed)
    origin = pd.Timestamp(start, tz="UTC")
    growth = 2.0 / max(days, 1)
    u = rng.random(users)
    signup = np.floor(np.log1p(u * np.expm1(growth * days)) / growth).astype(int)  # growing
    rate = rng.lognormal(np.log(0.35), 0.6, users).clip(0.02, 0.95)  # share of days active
    plays = rng.lognormal(np.log(8), 0.5, users)
    hazard = rng.uniform(0.001, 0.012, users)
    churn = signup + rng.geometric(hazard)  # the day the user leaves (may be after the data)
    convert_p = 0.004 * (rate / 0.35)
    popularity = 1.0 / np.arange(1, TRACKS + 1) ** 1.1
    popularity /= popularity.sum()
    ev_user: list[np.ndarray] = []
    ev_time: list[np.ndarray] = []
    ev_ms: list[np.ndarray] = []
    subs: list[dict[str, Any]] = []
    pays: list[dict[str, Any]] = []
    converted: dict[str, int] = {}
    all_days = np.arange(days)
    weekday = (start.weekday() + all_days) % 7
    season = (1 + 0.3 * (weekday >= 5)) * (1 + 0.1 * np.sin(2 * np.pi * all_days / 365.25))
    for i in range(users):
        user = f"u{i:07d}"
        first, last = signup[i], min(churn[i], days)
        if first >= days:
            continue
        span = all_days[first:last]
        fading = np.clip((churn[i] - span) / 14.0, 0.2, 1.0)  # falling activity before churn
        active = rng.random(span.size) < np.clip(rate[i] * season[first:last] * fading, 0, 1)
        active[0] = True  # the sign-up day
        for d, fade in zip(span[active], fading[active], strict=True):
            n = 1 + rng.poisson(plays[i] * fade)
            skip_p = 0.2 + 0.5 * (1 - fade)  # more skips before churn
            skipped = rng.random(n) < skip_p
            ms = np.where(
                skipped, rng.integers(3_000, 30_000, n), rng.integers(120_000, 300_000, n)
            )
            # plays back to back in 1-3 listening sessions started between 06:00 and 21:00
            k = min(n, 1 + rng.poisson(0.7))
            session = np.sort(rng.integers(0, k, n))
            begins = np.sort(rng.uniform(6 * 3600, 21 * 3600, k)) + 3 * 3600 * np.arange(k)
            offset = np.concatenate(([0.0], np.cumsum(ms[:-1] / 1000.0 + 2.0)))
            first_of = np.searchsorted(session, np.arange(k))
            seconds = np.minimum(begins[session] + offset - offset[first_of[session]], 86399.0)
            ev_user.append(np.full(n, i))
            ev_time.append(d * 86400 + seconds)
            ev_ms.append(ms)
        p = np.where(
            (span >= PROMOTION[0]) & (span <= PROMOTION[1]), 3 * convert_p[i], convert_p[i]
        )
        hit = np.flatnonzero(rng.random(span.size) < p)
        if hit.size:
            day = int(span[hit[0]])
            converted[user] = day
            began = origin + pd.Timedelta(days=day, hours=12)
            ended = origin + pd.Timedelta(days=int(churn[i]), hours=12) if churn[i] < days else None
            subs.append(
                {
                    "user_id": user,
                    "plan": "premium",
                    "price": PRICE,
                    "currency": CURRENCY,
                    "started_at": began,
                    "ended_at": ended,
                }
            )
            for k in range(day, int(min(churn[i], days)), 30):
                paid = origin + pd.Timedelta(days=k, hours=12, minutes=5)
                pays.append(
                    {
                        "user_id": user,
                        "amount": PRICE,
                        "currency": CURRENCY,
                        "paid_at": paid,
                        "kind": "charge",
                    }
                )
                if rng.random() < 0.02:
                    pays.append(
                        {
                            "user_id": user,
                            "amount": -PRICE,
                            "currency": CURRENCY,
                            "paid_at": paid + pd.Timedelta(days=2),
                            "kind": "refund",
                        }
                    )
    order_user = np.concatenate(ev_user) if ev_user else np.array([], dtype=int)
    times = np.concatenate(ev_time) if ev_time else np.array([])
    events = pd.DataFrame(
        {
            "user_id": np.char.add("u", np.char.zfill(order_user.astype(str), 7)),
            "track_id": np.char.add(
                "t", rng.choice(TRACKS, order_user.size, p=popularity).astype(str)
            ),
            "timestamp": origin + pd.to_timedelta(np.round(times), unit="s"),
            "ms_played": np.concatenate(ev_ms).astype("int64")
            if ev_ms
            else np.array([], dtype="int64"),
        }
    ).sort_values(["timestamp", "user_id"], kind="stable", ignore_index=True)
    frames = {
        "events": events,
        "subscriptions": pd.DataFrame(
            subs, columns=["user_id", "plan", "price", "currency", "started_at", "ended_at"]
        ),
        "payments": pd.DataFrame(
            pays, columns=["user_id", "amount", "currency", "paid_at", "kind"]
        ),
    }
    truth = {
        "seed": seed,
        "users": users,
        "days": days,
        "start": start.isoformat(),
        "promotion_days": list(PROMOTION),
        "churn_day": {f"u{i:07d}": int(churn[i]) for i in range(users) if churn[i] < days},
        "converted_day": converted,
    }
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        for name, frame in frames.items():
            if file_format == "csv":
                frame.to_csv(out / f"{name}.csv", index=False, date_format="%Y-%m-%dT%H:%M:%SZ")
            else:
                frame.to_parquet(out / f"{name}.parquet", index=False)
        (out / "truth.json").write_text(json.dumps(truth))
    return {**frames, "truth": pd.DataFrame([{"json": json.dumps(truth)}])}
