"""The report: one self-contained HTML file (no network), or the same figures as JSON."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("sklearn", reason="the analytics extra")

from backbeat.analytics import generate

BACKBEAT = str(Path(sys.executable).with_name("backbeat"))


def test_html_and_json_reports(tmp_path: Path) -> None:
    data = tmp_path / "data"
    generate(800, 150, 4, data)
    page = tmp_path / "report.html"
    run = subprocess.run(
        [
            BACKBEAT,
            "analytics",
            "report",
            "--source",
            str(data),
            "--period",
            "last_30_days",
            "--out",
            str(page),
        ],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    text = page.read_text()
    for title in ("Active users", "Cohort retention", "MRR bridge", "Forecast", "Segments"):
        assert f"<h2>{title}</h2>" in text
    assert text.count("<svg") == 3
    assert not re.search(r"(src|href)=\"https?:", text)  # nothing fetched when opened
    assert "<script" not in text
    as_json = tmp_path / "report.json"
    run = subprocess.run(
        [
            BACKBEAT,
            "analytics",
            "report",
            "--source",
            str(data),
            "--out",
            str(as_json),
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    body = json.loads(as_json.read_text())
    assert set(body) == {"kpis", "forecast", "segments"}
    assert len(body["forecast"]["forecast"]) == 30
