"""Churn prediction: behaviour before a cutoff -> no listening in the 30 days after it.

Users are those active in the 30 days before a cutoff; a user churned when they have no
event in the 30 days from it. Features, all from events before the cutoff (written in
Ibis, run on the source's backend): days since the last play (recency), active days in
the last 28 (frequency), plays in the last 14 days against the 14 before (trend), skip
share in the last 14 days (plays under 30 s), listening hours in the last 28, tenure, and
a premium subscription active at the cutoff. Time-based split: the model learns at a
cutoff 60 days before the data's end and is tested at the cutoff 30 days before it, on
labels it never saw. Gradient boosting (scikit-learn's HistGradientBoostingClassifier)
against a recency/frequency baseline (logistic regression on those two), both reported
with AUC; the model's calibration as its Brier score and a 10-bin reliability table.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import ibis
import numpy as np
import pandas as pd

from backbeat.analytics._errors import input_error
from backbeat.analytics._source import Source

__all__ = ["FEATURES", "ChurnReport", "churn_features", "churn_report"]

FEATURES = (
    "recency_days",
    "active_days_28",
    "plays_trend",
    "skip_share_14",
    "hours_28",
    "tenure_days",
    "premium",
)
HORIZON = 30
SKIP_MS = 30_000


def _ts(value: dt.datetime) -> Any:
    return ibis.timestamp(value)


def churn_features(source: Source, cutoff: dt.datetime) -> pd.DataFrame:
    """One row per user active in the 30 days before ``cutoff``: features and ``churned``."""
    ev = source.tables["events"]
    day = dt.timedelta(days=1)
    before = ev.filter(ev.timestamp < _ts(cutoff))
    life = before.group_by(before.user_id).aggregate(
        last=before.timestamp.max(), first=before.timestamp.min()
    )
    w28 = before.filter(before.timestamp >= _ts(cutoff - 28 * day))
    act = w28.group_by(w28.user_id).aggregate(
        active_days_28=w28.timestamp.date().nunique(), ms_28=w28.ms_played.sum()
    )
    w14 = before.filter(before.timestamp >= _ts(cutoff - 14 * day))
    recent = w14.group_by(w14.user_id).aggregate(
        plays_14=w14.count(), skips_14=(w14.ms_played < SKIP_MS).cast("int64").sum()
    )
    prior = before.filter(
        (before.timestamp >= _ts(cutoff - 28 * day)) & (before.timestamp < _ts(cutoff - 14 * day))
    )
    earlier = prior.group_by(prior.user_id).aggregate(plays_prior=prior.count())
    after = ev.filter((ev.timestamp >= _ts(cutoff)) & (ev.timestamp < _ts(cutoff + HORIZON * day)))
    stayed = after.select(after.user_id).distinct().mutate(stayed=ibis.literal(1))
    active = life.filter(life.last >= _ts(cutoff - 30 * day))
    joined = active
    for other in (act, recent, earlier, stayed):
        joined = joined.left_join(other, "user_id").drop("user_id_right")
    frame = joined.to_pyarrow().to_pandas()
    out = pd.DataFrame({"user_id": frame["user_id"].astype(str)})
    cut = pd.Timestamp(cutoff)
    out["recency_days"] = (cut - pd.to_datetime(frame["last"], utc=True)).dt.total_seconds() / 86400
    out["tenure_days"] = (cut - pd.to_datetime(frame["first"], utc=True)).dt.total_seconds() / 86400
    out["active_days_28"] = frame["active_days_28"].fillna(0).astype(float)
    out["hours_28"] = frame["ms_28"].fillna(0).astype(float) / 3_600_000
    plays = frame["plays_14"].fillna(0).astype(float)
    out["plays_trend"] = (plays + 1) / (frame["plays_prior"].fillna(0).astype(float) + 1)
    out["skip_share_14"] = np.where(
        plays > 0, frame["skips_14"].fillna(0) / plays.clip(lower=1), 0.0
    )
    out["premium"] = 0.0
    if source.has("subscriptions"):
        subs = source.tables["subscriptions"]
        alive = subs.filter(
            (subs.started_at <= _ts(cutoff))
            & (subs.ended_at.isnull() | (subs.ended_at > _ts(cutoff)))
        )
        premium = set(alive.select("user_id").to_pyarrow().to_pandas()["user_id"].astype(str))
        out["premium"] = out["user_id"].isin(premium).astype(float)
    out["churned"] = frame["stayed"].isna().astype(int).to_numpy()
    return out


@dataclass
class ChurnReport:
    auc: float
    baseline_auc: float
    brier: float
    train_users: int
    test_users: int
    churn_rate: float
    train_cutoff: str
    test_cutoff: str
    reliability: list[dict[str, Any]] = field(default_factory=list)
    importance: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "auc": round(self.auc, 4),
            "baseline_auc": round(self.baseline_auc, 4),
            "baseline": "logistic regression on recency and frequency",
            "brier": round(self.brier, 4),
            "train_users": self.train_users,
            "test_users": self.test_users,
            "test_churn_rate": round(self.churn_rate, 4),
            "train_cutoff": self.train_cutoff,
            "test_cutoff": self.test_cutoff,
            "calibration": self.reliability,
            "feature_importance": self.importance,
        }


def churn_report(source: Source, *, seed: int = 0) -> ChurnReport:
    """Train at (end - 60 days), test at (end - 30 days); see the module's text."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.inspection import permutation_importance
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import brier_score_loss, roc_auc_score

    ev = source.tables["events"]
    span = ev.aggregate(lo=ev.timestamp.min(), hi=ev.timestamp.max()).to_pyarrow().to_pylist()[0]
    lo, hi = span["lo"], span["hi"]
    if lo is None or (hi - lo).days < 120:
        raise input_error(
            source.origin, "timestamp", "-", "churn needs at least 120 days of events"
        )
    end = dt.datetime.combine(hi.date(), dt.time(), tzinfo=dt.UTC) + dt.timedelta(days=1)
    test_cut, train_cut = end - dt.timedelta(days=HORIZON), end - dt.timedelta(days=2 * HORIZON)
    train, test = churn_features(source, train_cut), churn_features(source, test_cut)
    for name, frame in (("train", train), ("test", test)):
        if frame["churned"].nunique() < 2 or len(frame) < 50:
            raise input_error(
                source.origin, "events", "-", f"too few users or no churn in the {name} split"
            )
    x_train, x_test = train[list(FEATURES)].to_numpy(), test[list(FEATURES)].to_numpy()
    y_train, y_test = train["churned"].to_numpy(), test["churned"].to_numpy()
    model = HistGradientBoostingClassifier(max_iter=200, learning_rate=0.05, random_state=seed)
    model.fit(x_train, y_train)
    p = model.predict_proba(x_test)[:, 1]
    rf = ["recency_days", "active_days_28"]
    baseline = LogisticRegression(max_iter=1000).fit(train[rf].to_numpy(), y_train)
    p_base = baseline.predict_proba(test[rf].to_numpy())[:, 1]
    bins = np.clip((p * 10).astype(int), 0, 9)
    reliability = [
        {
            "bin": f"{b / 10:.1f}-{(b + 1) / 10:.1f}",
            "users": int((bins == b).sum()),
            "predicted": round(float(p[bins == b].mean()), 4),
            "observed": round(float(y_test[bins == b].mean()), 4),
        }
        for b in range(10)
        if (bins == b).any()
    ]
    imp = permutation_importance(
        model, x_test, y_test, scoring="roc_auc", n_repeats=3, random_state=seed
    )
    importance = {
        f: round(float(v), 4) for f, v in zip(FEATURES, imp.importances_mean, strict=True)
    }
    return ChurnReport(
        auc=float(roc_auc_score(y_test, p)),
        baseline_auc=float(roc_auc_score(y_test, p_base)),
        brier=float(brier_score_loss(y_test, p)),
        train_users=len(train),
        test_users=len(test),
        churn_rate=float(y_test.mean()),
        train_cutoff=train_cut.date().isoformat(),
        test_cutoff=test_cut.date().isoformat(),
        reliability=reliability,
        importance=dict(sorted(importance.items(), key=lambda kv: -kv[1])),
    )
