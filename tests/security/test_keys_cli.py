"""`backbeat keys ...` and the service with the master key in SoftHSM2, as an operator runs
them: generate, show, status, rotate --reencrypt, a kill during re-encryption and the resume."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from click.testing import Result
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from backbeat import Settings
from backbeat.catalogue import credential_binding
from backbeat.cli import app as cli
from backbeat.security import Keyring, create_key_manager
from backbeat.server import create_app
from backbeat.storage import create_engine, credentials, upgrade
from tests.security.conftest import SoftHsm

BACKBEAT = shutil.which("backbeat") or str(Path(os.sys.executable).with_name("backbeat"))


def hsm_env(softhsm: SoftHsm, tmp_path: Path) -> dict[str, str]:
    label = f"cli-{uuid.uuid4().hex[:8]}"
    return {**softhsm.env("cli", label), "BACKBEAT_DATA_DIR": str(tmp_path)}


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, **env}
    return subprocess.run(
        [BACKBEAT, *args], env=full, capture_output=True, text=True, timeout=120, check=False
    )


def seed_credentials(settings: Settings, n: int) -> None:
    """``n`` credentials sealed as the service seals them."""

    async def seed() -> None:
        engine = create_engine(settings.database_url)
        await upgrade(engine)
        km = create_key_manager(settings, engine=engine)
        await km.ensure_key()  # as `backbeat keys generate` does
        rows = []
        for i in range(n):
            owner = f"user-{i:05d}"
            token = await km.encrypt_user_data(
                json.dumps({"access_token": f"secret-{i}"}).encode(),
                associated_data=credential_binding(owner, "spotify"),
            )
            rows.append({"owner": owner, "provider": "spotify", "ciphertext": token})
        from backbeat.catalogue._records import now

        async with engine.begin() as conn:
            await conn.execute(credentials.insert(), [{**r, "updated_at": now()} for r in rows])
        await km.aclose()
        await engine.dispose()

    asyncio.run(seed())


def read_back(settings: Settings) -> tuple[set[str], int]:
    """Key ids of every stored credential, and how many decrypt to what was stored."""

    async def read() -> tuple[set[str], int]:
        engine = create_engine(settings.database_url)
        km = create_key_manager(settings, engine=engine)
        ids, good = set(), 0
        async with engine.connect() as conn:
            rows = (await conn.execute(credentials.select())).all()
        for row in rows:
            ids.add(km.key_id_of(row.ciphertext))
            plain = await km.decrypt_user_data(
                row.ciphertext, associated_data=credential_binding(row.owner, row.provider)
            )
            seeded = row.owner.startswith("user-")
            expected = (
                f"secret-{int(row.owner[5:])}" if seeded else json.loads(plain)["access_token"]
            )
            good += json.loads(plain)["access_token"] == expected
        await km.aclose()
        await engine.dispose()
        return ids, good

    return asyncio.run(read())


def invoke(env: dict[str, str], monkeypatch: pytest.MonkeyPatch, *args: str) -> Result:
    """The CLI in this process (a subprocess costs ~1.5 s of start-up per call)."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return CliRunner().invoke(cli, list(args))


def test_generate_show_status_never_show_key_bytes(
    softhsm: SoftHsm, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = hsm_env(softhsm, tmp_path)
    made = invoke(env, monkeypatch, "keys", "generate")
    assert made.exit_code == 0, made.output
    key_id = made.stdout.split()[0]
    assert "created" in made.stdout
    assert len(key_id) == 16
    again = invoke(env, monkeypatch, "keys", "generate")
    assert again.exit_code == 0
    assert "already present" in again.stdout
    assert again.stdout.split()[0] == key_id

    shown = invoke(env, monkeypatch, "keys", "show", "--json")
    assert shown.exit_code == 0, shown.output
    (key,) = json.loads(shown.stdout)["keys"]
    assert key["key_id"] == key_id
    assert key["current"]
    assert key["attributes"]["CKA_EXTRACTABLE"] is False
    assert key["attributes"]["CKA_SENSITIVE"] is True
    assert "CKA_VALUE" not in key["attributes"]
    secret = invoke(env, monkeypatch, "keys", "show", "--show-secret")
    assert secret.exit_code != 0
    assert "cannot leave the HSM" in getattr(secret.exception, "message", "")

    status = invoke(env, monkeypatch, "keys", "status", "--json")
    assert status.exit_code == 0, status.output
    (row,) = json.loads(status.stdout)["keys"]
    assert row["key_id"] == key_id
    assert row["state"] == "active"
    assert row["provider"] == "pkcs11"
    assert row["max_encryptions"] == 2**30
    table = invoke(env, monkeypatch, "keys", "status")
    assert key_id in table.stdout
    for out in (made, again, shown, secret, status, table):
        assert softhsm.pin not in out.output


def test_wrong_pin_and_missing_module_are_one_clear_line(softhsm: SoftHsm, tmp_path: Path) -> None:
    env = hsm_env(softhsm, tmp_path)
    bad = run({**env, "BACKBEAT_PKCS11_PIN": "9999-wrong"}, "keys", "show")
    assert bad.returncode != 0
    assert "refused the PIN" in bad.stderr
    assert "9999-wrong" not in bad.stderr
    assert "Traceback" not in bad.stderr
    gone = run({**env, "BACKBEAT_PKCS11_MODULE": "/nonexistent/libp11.so"}, "keys", "status")
    assert gone.returncode != 0
    assert "/nonexistent/libp11.so" in gone.stderr
    assert "Traceback" not in gone.stderr


def test_the_service_seals_credentials_in_the_hsm_and_rotation_reencrypts_them(
    softhsm: SoftHsm, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = hsm_env(softhsm, tmp_path)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert CliRunner().invoke(cli, ["keys", "generate"]).exit_code == 0
    made = CliRunner().invoke(cli, ["apikey", "create", "--name", "t", "--scopes", "read,write"])
    key = made.stdout.strip().splitlines()[-1]
    headers = {"Authorization": f"Bearer {key}"}
    body = {"access_token": "BQD-token-in-the-hsm", "scopes": ["user-read-email"]}
    with TestClient(create_app(Settings.from_env())) as client:
        assert (
            client.put("/v1/me/credentials/spotify", headers=headers, json=body).status_code == 204
        )
        assert client.get("/v1/me/credentials/spotify", headers=headers).json()["scopes"] == [
            "user-read-email"
        ]
    settings = Settings.from_env()
    (before,), _ = read_back(settings)

    rotated = CliRunner().invoke(cli, ["keys", "rotate", "--reencrypt", "--json"])
    assert rotated.exit_code == 0, rotated.output
    report = json.loads(rotated.stdout.strip().splitlines()[-1])
    assert report["rewritten"] == 1
    assert report["verified"] == 1
    assert report["key_id"] != before
    with TestClient(create_app(Settings.from_env())) as client:
        got = client.get("/v1/me/credentials/spotify", headers=headers)
        assert got.status_code == 200
        assert got.json()["scopes"] == ["user-read-email"]
    with sqlite3.connect(tmp_path / "backbeat.db") as db:
        assert "BQD-token-in-the-hsm" not in "\n".join(db.iterdump())
        actions = [r[0] for r in db.execute("SELECT action FROM audit_events")]
    assert "keys.rotate" in actions


def test_a_killed_reencryption_resumes_without_skipping_or_repeating(
    softhsm: SoftHsm, tmp_path: Path
) -> None:
    env = hsm_env(softhsm, tmp_path)
    settings = Settings.from_env(env)
    n = 3000
    seed_credentials(settings, n)
    (old,), good = read_back(settings)
    assert good == n

    proc = subprocess.Popen(
        [BACKBEAT, "keys", "rotate", "--reencrypt", "--batch-size", "10", "--json"],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    examined = 0
    deadline = time.monotonic() + 60
    with sqlite3.connect(tmp_path / "backbeat.db", timeout=10) as db:
        while time.monotonic() < deadline and examined < 300:
            row = db.execute("SELECT examined FROM reencryption_runs").fetchone()
            examined = row[0] if row else 0
            time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    with sqlite3.connect(tmp_path / "backbeat.db") as db:
        state, done, cursor = db.execute(
            "SELECT state, examined, cursor FROM reencryption_runs"
        ).fetchone()
    assert state == "running"
    assert 0 < done < n, "the kill must land mid-run"
    assert json.loads(cursor)["credentials"]
    ids, good = read_back(settings)
    assert len(ids) == 2
    assert good == n

    # A second run while the first still looked alive would be refused; this one's owner
    # is dead, so the run is taken over and resumed where its last batch committed.
    resumed = run(env, "keys", "reencrypt", "--batch-size", "50", "--json")
    assert resumed.returncode == 0, resumed.stderr
    report = json.loads(resumed.stdout.strip().splitlines()[-1])
    assert report["resumed"] is True
    assert report["examined"] == n
    assert report["verified"] == n
    assert report["rewritten"] == n  # each record rewritten exactly once, across both runs
    ids, good = read_back(settings)
    assert ids == {report["key_id"]}
    assert old not in ids
    assert good == n
    with sqlite3.connect(tmp_path / "backbeat.db") as db:
        state, cursor = db.execute("SELECT state, cursor FROM reencryption_runs").fetchone()
    assert state == "completed"
    assert cursor == "{}"


def test_a_run_started_twice_is_refused(
    softhsm: SoftHsm, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = hsm_env(softhsm, tmp_path)
    assert invoke(env, monkeypatch, "keys", "generate").exit_code == 0
    settings = Settings.from_env(env)
    seed_credentials(settings, 3)
    import socket

    with sqlite3.connect(tmp_path / "backbeat.db") as db:  # a live run: this very process
        db.execute(
            "INSERT INTO reencryption_runs (id, target_key_id, state, owner, heartbeat_at, "
            "started_at, cursor, examined, rewritten) VALUES ('r1', 'k', 'running', ?, "
            "datetime('now'), datetime('now'), '{}', 0, 0)",
            (f"{socket.gethostname()}:{os.getpid()}",),
        )
    second = invoke(env, monkeypatch, "keys", "reencrypt")
    assert second.exit_code != 0
    assert getattr(second.exception, "code", "") == "security.reencrypt_running"
    assert "r1 is already running" in getattr(second.exception, "message", "")
    _, good = read_back(settings)
    assert good == 3


def test_local_keyring_rotation_reencrypts_legacy_credentials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows sealed by the previous version (the keyring alone) become envelopes."""
    env = {"BACKBEAT_DATA_DIR": str(tmp_path)}
    monkeypatch.delenv("BACKBEAT_KEY_PROVIDER", raising=False)
    assert invoke(env, monkeypatch, "keys", "generate").exit_code == 0
    settings = Settings.from_env(env)
    ring = Keyring.from_file(tmp_path / "audit.keys")
    seed_credentials(settings, 5)

    async def add_legacy() -> None:
        engine = create_engine(settings.database_url)
        from backbeat.catalogue._records import now

        token = ring.encrypt_text(
            json.dumps({"access_token": "secret-7"}),
            associated_data=credential_binding("user-00007", "spotify"),
        )
        async with engine.begin() as conn:
            await conn.execute(
                credentials.insert().values(
                    owner="user-00007", provider="spotify", ciphertext=token, updated_at=now()
                )
            )
        await engine.dispose()

    asyncio.run(add_legacy())
    rotated = invoke(env, monkeypatch, "keys", "rotate", "--reencrypt", "--json")
    assert rotated.exit_code == 0, rotated.output
    report = json.loads(rotated.stdout.strip().splitlines()[-1])
    assert report["rewritten"] == 6
    assert report["verified"] == 6
    ids, good = read_back(settings)
    assert ids == {Keyring.from_file(tmp_path / "audit.keys").primary_id}
    assert good == 6
    status = invoke(env, monkeypatch, "keys", "status", "--json")
    states = {k["key_id"]: k["state"] for k in json.loads(status.stdout)["keys"]}
    assert states[ring.primary_id] == "retired"
