"""Segments: planted groups are recovered and described; the seed call and the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("sklearn", reason="the analytics extra")

from backbeat.analytics import (
    AnalyticsInputError,
    create_business_analytics,
    generate,
    open_source,
    parse_period,
    segment_users,
)

BACKBEAT = str(Path(sys.executable).with_name("backbeat"))


def test_planted_heavy_and_light_listeners_are_found(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    rows = []
    start = pd.Timestamp("2025-03-01", tz="UTC")
    for i in range(300):
        heavy = i < 150
        days = rng.choice(30, 25 if heavy else 3, replace=False)
        for d in days:
            for j in range(20 if heavy else 3):
                rows.append(
                    {
                        "user_id": f"{'h' if heavy else 'l'}{i}",
                        "track_id": f"t{rng.integers(0, 500)}",
                        "timestamp": (start + pd.Timedelta(days=int(d), minutes=4 * j)).isoformat(),
                        "ms_played": int(
                            rng.integers(150_000, 240_000) if heavy else rng.integers(5_000, 40_000)
                        ),
                    }
                )
    pd.DataFrame(rows).to_csv(tmp_path / "events.csv", index=False)
    report = segment_users(open_source(tmp_path), parse_period("2025-03-01..2025-03-30"))
    assert len(report.segments) == 2
    purity = (
        sum(
            max(
                sum(1 for u, s in report.assignments.items() if s == seg.name and u.startswith(p))
                for p in ("h", "l")
            )
            for seg in report.segments
        )
        / 300
    )
    assert purity >= 0.95
    described = {s.description.split(":")[0] for s in report.segments}
    assert "heavy listeners" in described
    assert report.silhouette["all"] > 0.5


@pytest.mark.anyio
async def test_the_seed_call_by_plan(tmp_path: Path) -> None:
    generate(1500, 150, 8, tmp_path)
    analytics = create_business_analytics(tmp_path)
    clustered = await analytics.analyze_user_behavior(
        segments=["premium", "free"], ml_clustering=True
    )
    plans = {s.plan for s in clustered.segments}
    assert plans == {"premium", "free"}
    assert sum(s.users for s in clustered.segments) == len(clustered.assignments)
    plain = await analytics.analyze_user_behavior(segments=["premium", "free"], ml_clustering=False)
    assert [s.name for s in plain.segments] == ["premium", "free"]
    with pytest.raises(AnalyticsInputError, match="'gold'"):
        await analytics.analyze_user_behavior(segments=["gold"])


def test_cli_segments(tmp_path: Path) -> None:
    generate(600, 120, 9, tmp_path)
    run = subprocess.run(
        [BACKBEAT, "analytics", "segments", "--source", str(tmp_path), "--json"],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["segments"]
