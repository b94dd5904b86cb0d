"""Behavioural segments: k-means on standardised features, k chosen by silhouette.

Features per user over a period (from events in Ibis, plus the plan): active days,
plays per active day, listening hours, skip share, distinct tracks per play (variety),
days since the last play. With ``segments`` (``["premium", "free"]``) the users are
split by plan first and clustered within each plan. Each segment is described in words
by where its centroid stands against everyone's median (``high``/``low`` when it is at
least 0.5 standard deviations away), e.g. "heavy listeners: active days high, hours
high, skip share low".
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import ibis
import numpy as np
import pandas as pd

from backbeat.analytics._errors import input_error
from backbeat.analytics._kpis import Period
from backbeat.analytics._source import Source

__all__ = ["SEGMENT_FEATURES", "Segment", "SegmentReport", "segment_users", "user_features"]

SEGMENT_FEATURES = (
    "active_days",
    "plays_per_day",
    "hours",
    "skip_share",
    "variety",
    "recency_days",
)


def _ts(day: dt.date) -> Any:
    return ibis.timestamp(dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC))


def user_features(source: Source, period: Period) -> pd.DataFrame:
    ev = source.tables["events"]
    end = _ts(period.end + dt.timedelta(days=1))
    t = ev.filter((ev.timestamp >= _ts(period.start)) & (ev.timestamp < end))
    agg = t.group_by(t.user_id).aggregate(
        active_days=t.timestamp.date().nunique(),
        plays=t.count(),
        ms=t.ms_played.sum(),
        skips=(t.ms_played < 30_000).cast("int64").sum(),
        tracks=t.track_id.nunique(),
        last=t.timestamp.max(),
    )
    frame = agg.to_pyarrow().to_pandas()
    out = pd.DataFrame({"user_id": frame["user_id"].astype(str)})
    out["active_days"] = frame["active_days"].astype(float)
    out["plays_per_day"] = frame["plays"] / frame["active_days"]
    out["hours"] = frame["ms"] / 3_600_000
    out["skip_share"] = frame["skips"] / frame["plays"]
    out["variety"] = frame["tracks"] / frame["plays"]
    edge = pd.Timestamp(
        dt.datetime.combine(period.end + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
    )
    out["recency_days"] = (
        edge - pd.to_datetime(frame["last"], utc=True)
    ).dt.total_seconds() / 86400
    out["plan"] = "free"
    if source.has("subscriptions"):
        subs = source.tables["subscriptions"]
        alive = subs.filter(subs.started_at < end).filter(
            subs.ended_at.isnull() | (subs.ended_at >= end)
        )
        premium = set(alive.select("user_id").to_pyarrow().to_pandas()["user_id"].astype(str))
        out.loc[out["user_id"].isin(premium), "plan"] = "premium"
    return out


@dataclass
class Segment:
    name: str
    plan: str | None
    users: int
    share: float
    centroid: dict[str, float]
    description: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "plan": self.plan,
            "users": self.users,
            "share": round(self.share, 4),
            "centroid": {k: round(v, 4) for k, v in self.centroid.items()},
            "description": self.description,
        }


@dataclass
class SegmentReport:
    period: str
    segments: list[Segment] = field(default_factory=list)
    silhouette: dict[str, float] = field(default_factory=dict)
    assignments: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "period": self.period,
            "segments": [s.to_dict() for s in self.segments],
            "silhouette": self.silhouette,
        }


def _describe(centroid: pd.Series, median: pd.Series, spread: pd.Series) -> str:
    words = []
    for feature in SEGMENT_FEATURES:
        z = (centroid[feature] - median[feature]) / (spread[feature] or 1.0)
        if abs(z) >= 0.5:
            words.append(f"{feature.replace('_', ' ')} {'high' if z > 0 else 'low'}")
    hours_z = (centroid["hours"] - median["hours"]) / (spread["hours"] or 1.0)
    recency_z = (centroid["recency_days"] - median["recency_days"]) / (
        spread["recency_days"] or 1.0
    )
    label = (
        "heavy listeners"
        if hours_z >= 0.5
        else "fading listeners"
        if recency_z >= 0.5
        else "light listeners"
        if hours_z <= -0.5
        else "regular listeners"
    )
    return f"{label}: {', '.join(words) if words else 'close to the median everywhere'}"


def segment_users(
    source: Source,
    period: Period,
    *,
    segments: list[str] | None = None,
    cluster: bool = True,
    k_max: int = 6,
    seed: int = 0,
) -> SegmentReport:
    """Cluster users (within each of ``segments``' plans when given) and describe the clusters."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score
    from sklearn.preprocessing import StandardScaler

    features = user_features(source, period)
    if len(features) < 30:
        raise input_error(
            source.origin, "user_id", "-", f"{len(features)} active users are too few to segment"
        )
    plans: list[str | None] = list(segments) if segments else [None]
    for plan in plans:
        if plan is not None and plan not in ("premium", "free"):
            raise input_error("segments", "plan", "-", f"{plan!r} is not premium or free")
    median = features[list(SEGMENT_FEATURES)].median()
    spread = features[list(SEGMENT_FEATURES)].std()
    report = SegmentReport(str(period))
    for plan in plans:
        group = features if plan is None else features[features["plan"] == plan]
        if len(group) < 10:
            continue
        key = plan or "all"
        if not cluster:  # the plans themselves are the segments
            centroid = group[list(SEGMENT_FEATURES)].mean()
            report.segments.append(
                Segment(
                    key,
                    plan,
                    len(group),
                    len(group) / len(features),
                    centroid.to_dict(),
                    _describe(centroid, median, spread),
                )
            )
            report.assignments.update({u: key for u in group["user_id"]})
            continue
        x = StandardScaler().fit_transform(np.log1p(group[list(SEGMENT_FEATURES)].to_numpy(float)))
        best: tuple[float, int, Any] | None = None
        sample = min(len(group), 3000)
        for k in range(2, min(k_max, len(group) - 1) + 1):
            model = KMeans(n_clusters=k, n_init=10, random_state=seed).fit(x)
            score = float(silhouette_score(x, model.labels_, sample_size=sample, random_state=seed))
            if best is None or score > best[0]:
                best = (score, k, model)
        assert best is not None
        score, k, model = best
        report.silhouette[key] = round(score, 4)
        for c in range(k):
            members = group[model.labels_ == c]
            centroid = members[list(SEGMENT_FEATURES)].mean()
            name = f"{key}-{c + 1}"
            report.segments.append(
                Segment(
                    name,
                    plan,
                    len(members),
                    len(members) / len(features),
                    centroid.to_dict(),
                    _describe(centroid, median, spread),
                )
            )
            report.assignments.update({u: name for u in members["user_id"]})
    return report
