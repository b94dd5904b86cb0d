"""The planted-taste scenario on PostgreSQL + Redis: two service processes, a worker process.

Tracks no content can tell apart, listeners of one group or the other; an admin asks the
service to train; a separate `backbeat worker` takes the job from Redis; both service
processes then answer from the promoted model, without a restart.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx2 as httpx
import pytest

from tests._http import wait_http
from tests.integration.test_service_postgres import database  # noqa: F401 (fixture)
from tests.server.test_recommendations import ARTIST, GROUP_X, GROUP_Y, planted_events

pytestmark = [pytest.mark.integration]
BACKBEAT = str(Path(sys.executable).with_name("backbeat"))


def test_two_service_processes_serve_a_model_trained_by_a_worker_process(
    database: str,  # noqa: F811
    redis_url: str,
    tmp_path: Path,
    free_port: int,
) -> None:
    env = {
        **os.environ,
        "DATABASE_URL": database,
        "REDIS_URL": redis_url,
        "BACKBEAT_DATA_DIR": str(tmp_path),
        "BACKBEAT_EMBEDDED_WORKER": "false",
        "BACKBEAT_QUEUE_NAME": f"bbtest:{uuid.uuid4().hex[:8]}:analysis",
        "BACKBEAT_RATE_LIMIT_WRITE": "1000/s",
        "BACKBEAT_RATE_LIMIT_READ": "1000/s",
        "BACKBEAT_LOG_FORMAT": "text",
    }
    run = {"env": env, "capture_output": True, "text": True, "timeout": 120}
    assert subprocess.run([BACKBEAT, "db", "upgrade"], **run).returncode == 0  # type: ignore[call-overload]
    made = subprocess.run(
        [BACKBEAT, "apikey", "create", "--name", "it", "--scopes", "admin"], **run
    )  # type: ignore[call-overload]
    headers = {"Authorization": "Bearer " + made.stdout.strip().splitlines()[-1]}
    base = f"http://127.0.0.1:{free_port}"
    serve = subprocess.Popen(
        [BACKBEAT, "serve", "--port", str(free_port), "--workers", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    worker = subprocess.Popen(
        [BACKBEAT, "worker"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        wait_http(f"{base}/health", serve, "backbeat serve")
        with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
            for track in GROUP_X + GROUP_Y:
                meta = {"id": track, "name": track, "artists": [{"id": ARTIST, "name": "S"}]}
                posted = client.post("/v1/tracks", data={"metadata": json.dumps(meta)})
                assert posted.status_code == 201, posted.text
            assert client.post("/v1/events", json={"events": planted_events()}).status_code == 202
            queued = client.post("/v1/admin/models/train", json={"factors": 8})
            assert queued.status_code == 202, queued.text
            job, deadline = queued.json(), time.monotonic() + 90
            while job["status"] in ("queued", "running") and time.monotonic() < deadline:
                time.sleep(0.2)
                job = client.get(queued.headers["Location"]).json()
            assert job["status"] == "done", job
            assert job["result"]["promoted"] is True
            time.sleep(1.2)  # each process re-reads the production pointer within a second
            url = f"/v1/recommendations?seed_tracks={GROUP_X[0]}&limit=8"
            answers = [client.get(url) for _ in range(20)]  # both processes answer some
            for answer in answers:
                assert answer.status_code == 200, answer.text
                assert answer.headers["X-Backbeat-Model"] == "v1"
                ids = [t["id"] for t in answer.json()["tracks"]]
                assert sum(t in GROUP_X for t in ids) >= 7
            weekly = client.get("/v1/users/user-0/discover-weekly").json()
            assert weekly["tracks"]
            assert weekly["model"] == "v1"
    finally:
        for proc in (serve, worker):
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
        if worker.stderr:
            worker.stderr.close()
