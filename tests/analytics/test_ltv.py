"""BG/NBD against the paper's CDNOW estimates; Gamma-Gamma recovers planted values."""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from backbeat.analytics import BgNbd, GammaGamma, generate, lifetime_value

BACKBEAT = str(Path(sys.executable).with_name("backbeat"))


def _cdnow() -> pd.DataFrame:
    spec = importlib.util.find_spec("lifetimes")  # finds the data without importing it
    if spec is None or not spec.submodule_search_locations:
        pytest.fail("the dev extra's lifetimes package (for its CDNOW data) is missing")
    path = Path(next(iter(spec.submodule_search_locations))) / "datasets"
    return pd.read_csv(path / "cdnow_customers_summary.csv")


def test_bg_nbd_matches_fader_hardie_lee_on_cdnow() -> None:
    d = _cdnow()
    x, t_x, big_t = (d[c].to_numpy(float) for c in ("frequency", "recency", "T"))
    model = BgNbd.fit(x, t_x, big_t)
    assert model.r == pytest.approx(0.243, abs=0.002)
    assert model.alpha == pytest.approx(4.414, abs=0.01)
    assert model.a == pytest.approx(0.793, abs=0.003)
    assert model.b == pytest.approx(2.426, abs=0.01)
    # the paper's worked example: x = 2, t_x = 30.43, T = 38.86 -> 1.226 in the next 39 weeks
    expected = model.expected_purchases(39, np.array([2.0]), np.array([30.43]), np.array([38.86]))
    assert expected[0] == pytest.approx(1.226, abs=0.002)


def test_gamma_gamma_recovers_planted_values() -> None:
    rng = np.random.default_rng(4)
    p, q, gamma = 6.0, 4.0, 15.0
    n = 3000
    nu = rng.gamma(q, 1 / gamma, n)  # each customer's scale
    x = rng.integers(1, 12, n).astype(float)
    spend = np.array([rng.gamma(p, 1 / v, int(k)).mean() for v, k in zip(nu, x, strict=True)])
    model = GammaGamma.fit(x, spend)
    true_mean = p * gamma / (q - 1)
    assert p * model.gamma / (model.q - 1) == pytest.approx(true_mean, rel=0.1)
    assert model.p == pytest.approx(p, rel=0.25)


def test_lifetime_value_on_generated_payments(tmp_path: Path) -> None:
    frames = generate(1500, 240, 2)
    pay = frames["payments"]
    result = lifetime_value(pay, dt.datetime(2025, 8, 29, tzinfo=dt.UTC), 52)
    assert result.customers == pay.loc[pay["kind"] == "charge", "user_id"].nunique()
    assert 0 < result.mean_value < 52 / 4.3 * 9.99 * 1.1  # at most about a year of charges
    generate(1500, 240, 2, tmp_path)
    run = subprocess.run(
        [BACKBEAT, "analytics", "ltv", "--source", str(tmp_path), "--json"],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    assert set(json.loads(run.stdout)) >= {"bg_nbd", "mean_lifetime_value"}
