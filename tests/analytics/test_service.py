"""`/v1/analytics/*` through the service, admin scope, over BACKBEAT_ANALYTICS_SOURCE (or,
without it, the service database: see test_database.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from backbeat.analytics import generate
from backbeat.server import create_app
from backbeat.settings import Settings
from tests.server.test_catalogue import _key


def test_kpis_cohorts_and_forecast_for_admins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "analytics"
    generate(400, 120, 2, data)
    admin = {"Authorization": f"Bearer {_key(tmp_path, monkeypatch, 'admin')}"}
    reader = {"Authorization": f"Bearer {_key(tmp_path, monkeypatch, 'read')}"}
    settings = Settings.from_env(
        {"BACKBEAT_DATA_DIR": str(tmp_path), "BACKBEAT_ANALYTICS_SOURCE": str(data)}
    )
    with TestClient(create_app(settings)) as client:
        assert client.get("/v1/analytics/kpis", headers=reader).status_code == 403
        kpis = client.get("/v1/analytics/kpis?period=2025-03-01..2025-03-31", headers=admin)
        assert kpis.status_code == 200, kpis.text
        assert len(kpis.json()["dau"]) == 31
        cohorts = client.get("/v1/analytics/cohorts?period=last_30_days", headers=admin).json()
        assert cohorts["retention"]
        forecast = client.get(
            "/v1/analytics/forecast?metric=dau&horizon_days=7&confidence=0.9", headers=admin
        )
        assert forecast.status_code == 200, forecast.text
        assert len(forecast.json()["forecast"]) == 7
        bad = client.get("/v1/analytics/kpis?period=soon", headers=admin)
        assert bad.status_code == 400
        assert bad.json()["error"]["code"] == "analytics.input_invalid"
    bare = Settings.from_env({"BACKBEAT_DATA_DIR": str(tmp_path)})
    with TestClient(create_app(bare)) as client:
        # without BACKBEAT_ANALYTICS_SOURCE: the service's own database, empty so far
        missing = client.get("/v1/analytics/kpis", headers=admin)
        assert missing.status_code == 400
        assert missing.json()["error"]["code"] == "analytics.input_invalid"
        assert "no listening events recorded yet" in missing.text
