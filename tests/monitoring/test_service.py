"""Monitoring through the service: admin endpoints in-process, and `/metrics` of
`backbeat serve --workers 2` counting every worker's requests."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import httpx2 as httpx
import pytest
from fastapi.testclient import TestClient

from backbeat.server import create_app
from backbeat.settings import Settings
from tests._http import wait_http
from tests.server.test_catalogue import _key

BACKBEAT = str(Path(sys.executable).with_name("backbeat"))


def test_admin_slo_alerts_and_silences(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    admin = {"Authorization": f"Bearer {_key(tmp_path, monkeypatch, 'admin')}"}
    reader = {"Authorization": f"Bearer {_key(tmp_path, monkeypatch, 'read')}"}
    config = tmp_path / "monitoring.yml"
    config.write_text(
        "slos:\n  - {name: api, kind: availability, objective: 0.99, routes: '/v1/.*'}\n"
        "burn_alerts:\n  - {severity: page, factor: 2, long: 1h, short: 5m}\n"
        "receivers:\n  - {name: hook, type: webhook, url: 'http://127.0.0.1:9/secret-token'}\n"
    )
    settings = Settings.from_env(
        {"BACKBEAT_DATA_DIR": str(tmp_path), "BACKBEAT_MONITORING_FILE": str(config)}
    )
    with TestClient(create_app(settings)) as client:
        for _ in range(20):
            assert (
                client.get("/v1/audio-features/7ouMYWpwJ422jRcDASZB7P", headers=reader).status_code
                == 404
            )
        monitor = client.app.state.services.toolkit.monitor  # type: ignore[attr-defined]
        monitor.metrics.requests.labels("/v1/x", "GET", "500").inc(20)  # half of them failed
        client.portal.call(monitor.evaluate)  # type: ignore[union-attr]
        assert client.get("/v1/admin/slo", headers=reader).status_code == 403
        slo = client.get("/v1/admin/slo", headers=admin).json()["slos"][0]
        assert slo["name"] == "api"
        assert slo["error_ratio"] == pytest.approx(0.5, abs=0.05)
        assert slo["budget_remaining"] < 0
        alerts = client.get("/v1/admin/alerts", headers=admin).json()
        assert [a["labels"]["slo"] for a in alerts["alerts"]] == ["api"]
        assert alerts["receivers"] == [
            {"name": "hook", "type": "webhook", "endpoint": "http://127.0.0.1:9"}
        ]
        assert "secret-token" not in client.get("/v1/admin/alerts", headers=admin).text
        made = client.post(
            "/v1/admin/alerts/silences",
            headers=admin,
            json={"matchers": {"slo": "api"}, "duration_minutes": 30, "comment": "deploy"},
        )
        assert made.status_code == 201, made.text
        client.portal.call(monitor.evaluate)  # type: ignore[union-attr]
        alerts = client.get("/v1/admin/alerts", headers=admin).json()
        assert alerts["alerts"][0]["silenced"] is True
        fingerprint = alerts["alerts"][0]["fingerprint"]
        ack = client.post(f"/v1/admin/alerts/{fingerprint}/ack", headers=admin)
        assert ack.status_code == 200
        assert (
            client.post("/v1/admin/alerts/0123456789abcdef/ack", headers=admin).status_code == 404
        )
        silence_id = made.json()["id"]
        assert (
            client.delete(f"/v1/admin/alerts/silences/{silence_id}", headers=admin).status_code
            == 204
        )
        assert (
            client.delete(f"/v1/admin/alerts/silences/{silence_id}", headers=admin).status_code
            == 404
        )
        bad = client.post("/v1/admin/alerts/silences", headers=admin, json={"matchers": {}})
        assert bad.status_code == 400


def _total(text: str) -> float:
    """Requests counted by the exposition, except the scrapes themselves."""
    total = 0.0
    for line in text.splitlines():
        match = re.match(r"backbeat_http_requests_total\{(.*)\} (\S+)$", line)
        if match and 'route="/metrics"' not in match.group(1):
            total += float(match.group(2))
    return total


def test_metrics_of_two_workers_count_every_request(tmp_path: Path, free_port: int) -> None:
    env = {
        **os.environ,
        "BACKBEAT_DATA_DIR": str(tmp_path),
        "BACKBEAT_LOG_FORMAT": "text",
        "BACKBEAT_RATE_LIMIT_READ": "10000/s",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    base = f"http://127.0.0.1:{free_port}"
    serve = subprocess.Popen(
        [BACKBEAT, "serve", "--port", str(free_port), "--workers", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_http(f"{base}/health", serve, "backbeat serve")
        before = _total(httpx.get(f"{base}/metrics").text)
        sent = 0
        for i in range(60):  # new connections: the kernel spreads them over both workers
            with httpx.Client(base_url=base) as client:
                client.get("/health" if i % 2 else "/v1/audio-features/nope")
                sent += 1
        scrapes = [_total(httpx.get(f"{base}/metrics").text) for _ in range(8)]
        assert all(s == before + sent for s in scrapes), (before, sent, scrapes)
        files = list((tmp_path / "metrics").glob("*.db"))
        assert len({f.name.rsplit("_", 1)[-1] for f in files}) >= 2  # both workers wrote
    finally:
        serve.terminate()
        try:
            serve.wait(timeout=15)
        except subprocess.TimeoutExpired:
            serve.kill()


def test_a_stopped_process_leaves_no_live_gauges(tmp_path: Path) -> None:
    """mark_process_dead drops the process's live gauge files, so a scrape after a worker
    stops no longer sums its pool connections (counters stay: requests happened)."""
    script = """
import os
from pathlib import Path
from backbeat.monitoring import ServiceMetrics, mark_process_dead
metrics = ServiceMetrics()
metrics.db_pool.labels("idle").set(3)
folder = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
before = sorted(p.name for p in folder.glob("gauge_livesum_*.db"))
mark_process_dead()
after = sorted(p.name for p in folder.glob("gauge_livesum_*.db"))
print(len(before), len(after))
"""
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["1", "0"]
