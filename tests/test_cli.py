from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx2 as httpx
import pytest
from typer.testing import CliRunner

from backbeat import __version__
from backbeat.cli import app

BACKBEAT = str(Path(sys.executable).with_name("backbeat"))


def test_version() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"backbeat {__version__}"


def test_bad_configuration_exits_2_with_one_clear_line(tmp_path: Path) -> None:
    env = {**os.environ, "CACHE_TTL_DEFAULT": "soon", "BACKBEAT_DATA_DIR": str(tmp_path)}
    proc = subprocess.run(
        [BACKBEAT, "serve"], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 2
    assert "CACHE_TTL_DEFAULT" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_serve_answers_health_on_a_real_socket(tmp_path: Path, free_port: int) -> None:
    env = {**os.environ, "BACKBEAT_DATA_DIR": str(tmp_path / "var")}
    env.pop("REDIS_URL", None)
    env.pop("DATABASE_URL", None)
    proc = subprocess.Popen(
        [BACKBEAT, "serve", "--port", str(free_port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                r = httpx.get(f"http://127.0.0.1:{free_port}/health", timeout=1)
                break
            except httpx.TransportError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    out = proc.stdout.read().decode() if proc.stdout else ""
                    pytest.fail(f"server did not come up:\n{out}")
                time.sleep(0.1)
        assert r.status_code == 200
        assert r.json()["status"] == "ok"
        assert (tmp_path / "var" / "backbeat.db").exists()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stdout:
            proc.stdout.close()


def test_keys_generate_rotate_show_never_print_secrets_unless_asked(tmp_path: Path) -> None:
    from backbeat.security import Keyring

    runner = CliRunner()
    path = tmp_path / "keys"
    gen = runner.invoke(app, ["keys", "generate", "--file", str(path)])
    assert gen.exit_code == 0, gen.output
    ring = Keyring.from_file(path)
    assert ring.primary_id in gen.output
    assert ring.export() not in gen.output
    assert "ENCRYPTION_KEY=" not in gen.output
    assert path.stat().st_mode & 0o777 == 0o600

    again = runner.invoke(app, ["keys", "generate", "--file", str(path)])
    assert again.exit_code != 0  # refuses to overwrite

    rot = runner.invoke(app, ["keys", "rotate", "--file", str(path)])
    assert rot.exit_code == 0
    rotated = Keyring.from_file(path)
    assert rotated.key_ids[1] == ring.primary_id
    assert rotated.primary_id in rot.output
    assert rotated.export() not in rot.output

    shown = runner.invoke(app, ["keys", "show", "--file", str(path)])
    assert shown.output.splitlines()[0] == f"{rotated.primary_id}  (primary)"
    assert rotated.export() not in shown.output
    revealed = runner.invoke(app, ["keys", "show", "--file", str(path), "--reveal"])
    assert f"ENCRYPTION_KEY={rotated.export()}" in revealed.output


def test_keys_rotate_without_a_file_is_one_clear_line(tmp_path: Path) -> None:
    env = {**os.environ, "BACKBEAT_DATA_DIR": str(tmp_path)}
    proc = subprocess.run(
        [BACKBEAT, "keys", "rotate"], env=env, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 2
    assert "Cannot read the key file" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_db_upgrade_and_audit_verify_on_the_embedded_database(tmp_path: Path) -> None:
    import sqlite3

    env = {**os.environ, "BACKBEAT_DATA_DIR": str(tmp_path)}
    env.pop("DATABASE_URL", None)
    env.pop("ENCRYPTION_KEY", None)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [BACKBEAT, *args], env=env, capture_output=True, text=True, timeout=60, check=False
        )

    up = run("db", "upgrade")
    assert up.returncode == 0, up.stderr
    assert "0012_playback" in up.stdout
    code = (
        "import asyncio\n"
        "from backbeat import Toolkit\n"
        "from backbeat.audit import audited\n"
        "async def main():\n"
        "    async with Toolkit.from_env() as tk:\n"
        "        _ = tk.audit\n"
        "        @audited(action='fetch_track', resource='track:{t}')\n"
        "        async def fetch(t): return t\n"
        "        for i in range(5): await fetch(str(i))\n"
        "asyncio.run(main())\n"
    )
    rec = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert rec.returncode == 0, rec.stderr
    ok = run("audit", "verify")
    assert ok.returncode == 0, ok.stderr
    assert "intact (5 events" in ok.stdout
    exported = run("audit", "export", "--action", "fetch_track")
    assert len(exported.stdout.splitlines()) == 5

    with sqlite3.connect(tmp_path / "backbeat.db") as db:
        db.execute("UPDATE audit_events SET resource = 'track:999' WHERE seq = 3")
    bad = run("audit", "verify")
    assert bad.returncode == 1
    assert "seq 3" in bad.stderr
    assert "Traceback" not in bad.stderr
