"""Real Prometheus and Alertmanager (Debian's packages) over a real `backbeat serve`.

The generated rules pass `promtool check rules` and the generated Alertmanager
configuration `amtool check-config`; Prometheus scrapes the service, a backend (our own
redis-server) goes down so `/ready` answers 503, the availability SLO burns, the page
arrives at a local webhook receiver through Alertmanager; the backend comes back and
the resolution arrives too. Burn windows are compressed to seconds in the monitoring
file (the defaults are hours).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest

from tests._http import wait_http
from tests.conftest import REQUIRE_SERVICES
from tests.monitoring.conftest import Receiver

BACKBEAT = str(Path(sys.executable).with_name("backbeat"))
TOOLS = ("prometheus", "prometheus-alertmanager", "promtool", "amtool")


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def tools() -> dict[str, str]:
    found = {name: shutil.which(name) for name in TOOLS}
    missing = [n for n, p in found.items() if p is None]
    if missing:
        message = f"not installed: {', '.join(missing)} (.ci/run installs them)"
        if REQUIRE_SERVICES:
            pytest.fail(message)
        pytest.skip(message)
    return {n: str(p) for n, p in found.items()}


@pytest.fixture
def hook() -> Iterator[Receiver]:
    r = Receiver()
    try:
        yield r
    finally:
        r.close()


def _notifications(hook: Receiver, status: str) -> list[dict[str, Any]]:
    return [
        b
        for b in hook.bodies("/am")
        if b["status"] == status and any(a["labels"].get("slo") == "ready" for a in b["alerts"])
    ]


def _drive(url: str, until: Callable[[], bool], seconds: float) -> None:
    """Call ``url`` ~20 times a second until ``until()`` holds."""
    deadline = time.monotonic() + seconds
    with httpx.Client(timeout=5) as client:
        while not until():
            assert time.monotonic() < deadline, "the expected notification did not arrive"
            client.get(url)
            time.sleep(0.05)


def test_an_slo_burns_pages_through_alertmanager_and_resolves(
    tmp_path: Path,
    tools: dict[str, str],
    hook: Receiver,
    private_redis: tuple[int, Any, Any],
) -> None:
    redis_port, start_redis, stop_redis = private_redis
    config = tmp_path / "monitoring.yml"
    config.write_text(
        "slos:\n"
        "  - {name: ready, kind: availability, objective: 0.9, routes: /ready}\n"
        "burn_alerts:\n"
        "  - {severity: page, factor: 1, long: 20s, short: 10s}\n"
        "receivers:\n"
        f"  - {{name: hook, type: webhook, url: '{hook.url}/am'}}\n"
        "escalation: {pager: hook, tickets: hook}\n"
        "alertmanager: {group_wait: 1s, group_interval: 1s, repeat_interval: 1h}\n"
    )
    out = tmp_path / "rules"
    made = subprocess.run(
        [BACKBEAT, "monitoring", "rules", "--out", str(out), "--config", str(config)],
        capture_output=True,
        text=True,
    )
    assert made.returncode == 0, made.stderr
    assert sorted(p.name for p in out.iterdir()) == [
        "alertmanager.yml",
        "backbeat-slo.rules.yml",
        "grafana-dashboard.json",
    ]
    check = subprocess.run(
        [tools["promtool"], "check", "rules", str(out / "backbeat-slo.rules.yml")],
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    am_check = subprocess.run(
        [tools["amtool"], "check-config", str(out / "alertmanager.yml")],
        capture_output=True,
        text=True,
    )
    assert am_check.returncode == 0, am_check.stdout + am_check.stderr

    service_port, prom_port, am_port = _port(), _port(), _port()
    env = {
        **os.environ,
        "BACKBEAT_DATA_DIR": str(tmp_path / "var"),
        "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        "BACKBEAT_MONITORING": "false",  # Prometheus evaluates here, not the service
        "BACKBEAT_LOG_FORMAT": "text",
    }
    (tmp_path / "prometheus.yml").write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        f"rule_files: ['{out / 'backbeat-slo.rules.yml'}']\n"
        "alerting:\n  alertmanagers:\n"
        f"    - static_configs: [{{targets: ['127.0.0.1:{am_port}']}}]\n"
        "scrape_configs:\n"
        f"  - {{job_name: backbeat, static_configs: [{{targets: ['127.0.0.1:{service_port}']}}]}}\n"
    )
    procs: list[subprocess.Popen[bytes]] = []

    def spawn(args: list[str], **extra: Any) -> subprocess.Popen[bytes]:
        with (tmp_path / f"{Path(args[0]).name}.log").open("wb") as log:  # kept for failures
            proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, **extra)
        procs.append(proc)
        return proc

    try:
        service = spawn([BACKBEAT, "serve", "--port", str(service_port)], env=env)
        manager = spawn(
            [
                tools["prometheus-alertmanager"],
                f"--config.file={out / 'alertmanager.yml'}",
                f"--storage.path={tmp_path / 'am'}",
                f"--web.listen-address=127.0.0.1:{am_port}",
                "--cluster.listen-address=",
            ]
        )
        prometheus = spawn(
            [
                tools["prometheus"],
                f"--config.file={tmp_path / 'prometheus.yml'}",
                f"--storage.tsdb.path={tmp_path / 'prom'}",
                f"--web.listen-address=127.0.0.1:{prom_port}",
            ]
        )
        wait_http(f"http://127.0.0.1:{service_port}/health", service, "backbeat serve")
        wait_http(f"http://127.0.0.1:{am_port}/-/ready", manager, "alertmanager")
        wait_http(f"http://127.0.0.1:{prom_port}/-/ready", prometheus, "prometheus")
        ready = f"http://127.0.0.1:{service_port}/ready"
        assert httpx.get(ready).status_code == 200
        stop_redis()  # a backend goes down: /ready answers 503, the SLO burns
        _drive(ready, lambda: bool(_notifications(hook, "firing")), 90)
        fired = _notifications(hook, "firing")[0]
        assert fired["alerts"][0]["labels"]["alertname"] == "BackbeatSloBurnRate"
        assert fired["alerts"][0]["labels"]["severity"] == "page"
        start_redis()  # it comes back: good answers, the short window clears
        _drive(ready, lambda: bool(_notifications(hook, "resolved")), 90)
        query = httpx.get(
            f"http://127.0.0.1:{prom_port}/api/v1/query",
            params={"query": "sum(backbeat_http_requests_total)"},
        ).json()
        assert float(query["data"]["result"][0]["value"][1]) > 20
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
