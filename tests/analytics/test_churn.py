"""Churn on planted drivers: the model beats the recency/frequency baseline out of time."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("sklearn", reason="the analytics extra")

from backbeat.analytics import (
    AnalyticsInputError,
    churn_report,
    create_business_analytics,
    generate,
    open_source,
)

BACKBEAT = str(Path(sys.executable).with_name("backbeat"))


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("churn")
    generate(2500, 240, 9, out)
    return out


@pytest.mark.anyio
async def test_the_model_beats_its_baseline_and_finds_the_planted_driver(data: Path) -> None:
    report = (await create_business_analytics(data).predict_churn()).to_dict()
    assert report["auc"] > report["baseline_auc"] + 0.005
    assert report["auc"] > 0.85
    assert report["train_cutoff"] < report["test_cutoff"]  # a time split
    assert report["feature_importance"]["skip_share_14"] > 0  # skips precede churn (planted)
    assert 0 < report["brier"] < 0.2
    assert sum(b["users"] for b in report["calibration"]) == report["test_users"]


def test_too_little_history_is_named(tmp_path: Path) -> None:
    generate(100, 60, 1, tmp_path)
    with pytest.raises(AnalyticsInputError, match="at least 120 days"):
        churn_report(open_source(tmp_path))


def test_cli_churn_json(tmp_path: Path) -> None:
    generate(700, 130, 3, tmp_path)
    run = subprocess.run(
        [BACKBEAT, "analytics", "churn", "--source", str(tmp_path), "--json"],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    body = json.loads(run.stdout)
    assert {"auc", "baseline_auc"} <= set(body)
