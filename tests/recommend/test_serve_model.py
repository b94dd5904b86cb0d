from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from fastapi.testclient import TestClient

from backbeat.recommend import ALS, InteractionMatrix, ModelRegistry, synthetic_log
from backbeat.recommend._serve import create_model_app


def _registry(tmp_path: Path) -> tuple[Path, list[str]]:
    log = synthetic_log(n_users=200, n_items=300, seed=5)
    data = InteractionMatrix.build(log.events)
    registry = ModelRegistry(tmp_path / "models")
    for seed in (1, 2):
        registry.register("rec", ALS(factors=8, iterations=3, seed=seed).fit(data))
    return tmp_path / "models", list(data.users)


def test_serves_production_else_latest_and_follows_promotion(tmp_path: Path) -> None:
    root, users = _registry(tmp_path)
    with TestClient(create_model_app(root, "rec")) as client:
        assert client.get("/health").json()["version"] == 2  # no production yet: latest
        ModelRegistry(root).promote("rec", 1)
        health = client.get("/health").json()
        assert (health["version"], health["kind"]) == (1, "ALS")
        recs = client.get(f"/v1/users/{users[0]}/recommendations?n=5").json()
        assert recs["version"] == 1
        assert len(recs["items"]) == 5
        item = recs["items"][0]["id"]
        similar = client.get(f"/v1/items/{item}/similar?n=3").json()["items"]
        assert len(similar) == 3
        assert item not in [s["id"] for s in similar]
        missing = client.get("/v1/items/nope/similar")
        assert missing.status_code == 404
        assert missing.json()["error"]["code"].startswith("not_found")
        assert client.get(f"/v1/users/{users[0]}/recommendations?n=0").status_code == 422


def test_cli_serves_over_http(tmp_path: Path, free_port: int) -> None:
    root, users = _registry(tmp_path)
    backbeat = str(Path(sys.executable).with_name("backbeat"))
    process = subprocess.Popen(
        [
            backbeat,
            "recommend",
            "serve-model",
            "--name",
            "rec",
            "--registry",
            str(root),
            "--port",
            str(free_port),
            "--version",
            "2",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{free_port}"

        def get(path: str) -> dict[str, object]:
            with urllib.request.urlopen(base + path, timeout=2) as response:
                return json.loads(response.read())  # type: ignore[no-any-return]

        deadline = time.monotonic() + 30
        while True:
            try:
                health = get("/health")
                break
            except (urllib.error.URLError, ConnectionError):
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.2)
        assert health["version"] == 2
        recs = get(f"/v1/users/{users[1]}/recommendations?n=4")
        assert len(recs["items"]) == 4  # type: ignore[arg-type]
    finally:
        process.terminate()
        process.wait(timeout=10)
