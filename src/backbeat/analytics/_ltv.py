"""Customer lifetime value: BG/NBD for repeat purchases, Gamma-Gamma for their value.

Our own implementation of the papers (nothing here imports the unmaintained ``lifetimes``):

- BG/NBD, Fader, Hardie and Lee (2005), "Counting your customers the easy way": while
  alive a customer buys at a Poisson rate drawn from Gamma(r, alpha), and after each
  purchase drops out with a probability drawn from Beta(a, b). Per customer the data are
  ``x`` repeat purchases, the time of the last one ``t_x`` and the age ``T``; the
  parameters maximise the paper's closed-form likelihood (its equation 6). The expected
  number of purchases in the next ``t`` uses Gauss's hypergeometric function (eq. 10).
- Gamma-Gamma, Fader, Hardie and Lee (2005), "RFM and CLV: using iso-value curves": the
  mean value of a customer's purchases, with parameters (p, q, gamma); the expected mean
  for a customer with ``x`` purchases of mean ``m`` is (gamma + m x) p / (p x + q - 1).

Checked against the paper's published estimates on the CDNOW data (r 0.243, alpha 4.414,
a 0.793, b 2.426). On a subscription service the purchases are the charges in
``payments``; the time unit is weeks.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import betaln, gammaln, hyp2f1

from backbeat.analytics._errors import input_error

__all__ = ["BgNbd", "GammaGamma", "LifetimeValue", "lifetime_value", "rfm_summary"]


@dataclass(frozen=True, slots=True)
class BgNbd:
    r: float
    alpha: float
    a: float
    b: float

    @staticmethod
    def log_likelihood(
        params: np.ndarray, x: np.ndarray, t_x: np.ndarray, big_t: np.ndarray
    ) -> np.ndarray:
        r, alpha, a, b = params
        ln_a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
        ln_a2 = betaln(a, b + x) - betaln(a, b)
        ln_a3 = -(r + x) * np.log(alpha + big_t)
        with np.errstate(divide="ignore"):
            ln_a4 = np.where(
                x > 0,
                np.log(a) - np.log(np.maximum(b + x - 1, 1e-300)) - (r + x) * np.log(alpha + t_x),
                -np.inf,
            )
        out: np.ndarray = np.asarray(ln_a1 + ln_a2 + np.logaddexp(ln_a3, ln_a4), dtype=float)
        return out

    @classmethod
    def fit(cls, x: np.ndarray, t_x: np.ndarray, big_t: np.ndarray) -> BgNbd:
        def negative(log_params: np.ndarray) -> float:
            return -float(cls.log_likelihood(np.exp(log_params), x, t_x, big_t).sum())

        # Bounded (e^-8 .. e^8): on data that breaks the model's assumptions (a fixed
        # subscription cadence) the unbounded optimum runs off to degenerate values.
        best = minimize(negative, np.zeros(4), method="L-BFGS-B", bounds=[(-8.0, 8.0)] * 4)
        r, alpha, a, b = np.exp(best.x)
        return cls(float(r), float(alpha), float(a), float(b))

    def expected_purchases(
        self, t: float, x: np.ndarray, t_x: np.ndarray, big_t: np.ndarray
    ) -> np.ndarray:
        """Expected purchases in the next ``t`` time units (the paper's eq. 10)."""
        r, alpha, a, b = self.r, self.alpha, self.a, self.b
        head = (a + b + x - 1) / (a - 1)
        z = t / (alpha + big_t + t)
        body = 1 - ((alpha + big_t) / (alpha + big_t + t)) ** (r + x) * hyp2f1(
            r + x, b + x, a + b + x - 1, z
        )
        tail = 1 + (x > 0) * (a / np.maximum(b + x - 1, 1e-12)) * (
            (alpha + big_t) / (alpha + t_x)
        ) ** (r + x)
        out: np.ndarray = np.asarray(head * body / tail, dtype=float)
        return out

    def to_dict(self) -> dict[str, float]:
        return {
            "r": round(self.r, 4),
            "alpha": round(self.alpha, 4),
            "a": round(self.a, 4),
            "b": round(self.b, 4),
        }


@dataclass(frozen=True, slots=True)
class GammaGamma:
    p: float
    q: float
    gamma: float

    @classmethod
    def fit(cls, x: np.ndarray, m: np.ndarray) -> GammaGamma:
        def negative(log_params: np.ndarray) -> float:
            p, q, g = np.exp(log_params)
            ll = (
                gammaln(p * x + q)
                - gammaln(p * x)
                - gammaln(q)
                + q * np.log(g)
                + (p * x - 1) * np.log(m)
                + p * x * np.log(x)
                - (p * x + q) * np.log(g + x * m)
            )
            return -float(ll.sum())

        best = minimize(negative, np.zeros(3), method="Nelder-Mead", options={"maxiter": 4000})
        p, q, g = np.exp(best.x)
        return cls(float(p), float(q), float(g))

    def expected_value(self, x: np.ndarray, m: np.ndarray) -> np.ndarray:
        return np.asarray((self.gamma + m * x) * self.p / (self.p * x + self.q - 1))

    def to_dict(self) -> dict[str, float]:
        return {"p": round(self.p, 4), "q": round(self.q, 4), "gamma": round(self.gamma, 4)}


def rfm_summary(payments: pd.DataFrame, end: dt.datetime) -> pd.DataFrame:
    """Per customer: repeat purchases ``x``, ``t_x`` and ``T`` in weeks, mean repeat value."""
    charges = payments[payments["kind"] == "charge"].copy()
    charges["at"] = pd.to_datetime(charges["paid_at"], utc=True)
    charges = charges[charges["at"] <= pd.Timestamp(end)]
    first = charges.groupby("user_id")["at"].transform("min")
    charges["week"] = (charges["at"] - first).dt.total_seconds() / (7 * 86400)
    g = charges.groupby("user_id")
    summary = pd.DataFrame(
        {
            "x": g["at"].count() - 1,
            "t_x": g["week"].max(),
            "T": (pd.Timestamp(end) - g["at"].min()).dt.total_seconds() / (7 * 86400),
            "first_value": g["amount"].first(),
            "total": g["amount"].sum(),
        }
    )
    summary["m"] = np.where(
        summary["x"] > 0,
        (summary["total"] - summary["first_value"]) / summary["x"].clip(lower=1),
        0.0,
    )
    return summary.drop(columns=["first_value", "total"])


@dataclass
class LifetimeValue:
    bgnbd: BgNbd
    gamma_gamma: GammaGamma | None
    horizon_weeks: float
    customers: int
    mean_value: float
    per_user: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        return {
            "bg_nbd": self.bgnbd.to_dict(),
            "gamma_gamma": self.gamma_gamma.to_dict() if self.gamma_gamma else None,
            "horizon_weeks": self.horizon_weeks,
            "customers": self.customers,
            "mean_lifetime_value": round(self.mean_value, 4),
        }


def lifetime_value(
    payments: pd.DataFrame, end: dt.datetime, horizon_weeks: float = 52.0
) -> LifetimeValue:
    """Expected value of each paying customer's charges over the next ``horizon_weeks``."""
    summary = rfm_summary(payments, end)
    if len(summary) < 20 or (summary["x"] > 0).sum() < 10:
        raise input_error(
            "payments",
            "amount",
            "-",
            "lifetime value needs at least 20 paying customers, 10 of them repeat",
        )
    x, t_x, big_t = (
        summary["x"].to_numpy(float),
        summary["t_x"].to_numpy(float),
        summary["T"].to_numpy(float),
    )
    bg = BgNbd.fit(x, t_x, big_t)
    purchases = bg.expected_purchases(horizon_weeks, x, t_x, big_t)
    repeat = summary["x"] > 0
    gg = None
    value = np.full(
        len(summary), float(payments.loc[payments["kind"] == "charge", "amount"].mean())
    )
    spread = float(summary.loc[repeat, "m"].std() or 0.0)
    if repeat.sum() >= 10 and spread > 1e-9:  # all equal (a fixed price): nothing to model
        gg = GammaGamma.fit(x[repeat.to_numpy()], summary.loc[repeat, "m"].to_numpy(float))
        value = np.where(
            repeat, gg.expected_value(np.maximum(x, 1), summary["m"].to_numpy(float)), value
        )
    ltv = purchases * value
    if not np.all(np.isfinite(ltv)):
        raise input_error(
            "payments",
            "paid_at",
            "-",
            f"the BG/NBD model does not fit these purchases (fitted {bg.to_dict()})",
        )
    return LifetimeValue(
        bg,
        gg,
        horizon_weeks,
        len(summary),
        float(ltv.mean()),
        {u: round(float(v), 4) for u, v in zip(summary.index, ltv, strict=True)},
    )
