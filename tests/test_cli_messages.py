"""What a new user reads from the CLI: real audit outcomes, reasons, paths, next steps."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from backbeat.cli import app
from tests.catalogue.test_media import _wav
from tests.integration._upload import ARTIST, TRACK


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("BACKBEAT_DATA_DIR", str(tmp_path / "var"))
    for name in ("REDIS_URL", "DATABASE_URL", "ENCRYPTION_KEY", "ENCRYPTION_KEY_FILE"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path / "var"


def _audit_events() -> list[dict[str, object]]:
    exported = CliRunner().invoke(app, ["audit", "export"])
    assert exported.exit_code == 0, exported.output
    return [json.loads(line) for line in exported.stdout.splitlines() if line.strip()]


def test_a_failed_revoke_is_audited_as_a_failure(data_dir: Path) -> None:
    result = CliRunner().invoke(app, ["apikey", "revoke", "nosuchid"])
    assert result.exit_code != 0
    assert result.exception is not None
    assert getattr(result.exception, "code", None) == "cli.apikey_unknown"
    created = CliRunner().invoke(app, ["apikey", "create", "--name", "x"])
    key_id = created.stdout.strip().splitlines()[-1].split("_")[1]  # bb_<id>_<secret>
    assert CliRunner().invoke(app, ["apikey", "revoke", key_id]).exit_code == 0
    outcomes = [
        (e["action"], e["resource"], e["outcome"], e["error_code"]) for e in _audit_events()
    ]
    assert outcomes == [
        ("apikey.revoke", "apikey:nosuchid", "failure", "cli.apikey_unknown"),
        ("apikey.create", f"apikey:{key_id}", "success", None),
        ("apikey.revoke", f"apikey:{key_id}", "success", None),
    ]


def test_import_names_the_reason_and_the_file_of_each_skipped_line(
    data_dir: Path, tmp_path: Path
) -> None:
    (tmp_path / "song.wav").write_bytes(_wav())
    good = {"id": TRACK, "name": "Song", "artists": [{"id": ARTIST, "name": "B"}]}
    lines = [
        json.dumps({**good, "audio": "song.wav"}),
        json.dumps({**good, "audio": "missing.wav"}),
        '{"id": "x", "name": }',
        json.dumps({"id": TRACK, "name": "No artists"}),
    ]
    manifest = tmp_path / "tracks.jsonl"
    manifest.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["import", str(manifest)])
    assert result.exit_code == 0, result.output
    assert "imported 1 of 4 track(s); 1 analysis job(s) queued" in result.stdout
    errors = [line for line in result.stderr.splitlines() if line.startswith("line ")]
    missing = (tmp_path / "missing.wav").resolve()
    assert errors[0] == f"line 2: skipped: audio file {missing} not found [FileNotFoundError]"
    assert errors[1].startswith("line 3: skipped: not valid JSON: Expecting value (column ")
    assert errors[2] == "line 4: skipped: artists is required. [validation.invalid]"


def test_training_on_a_missing_file_names_the_file_not_a_line(
    data_dir: Path, tmp_path: Path
) -> None:
    missing = tmp_path / "nowhere.csv"
    result = CliRunner().invoke(app, ["recommend", "train", str(missing)])
    assert result.exit_code != 0
    message = getattr(result.exception, "message", "")
    assert message == f"{missing}: no such file."
    assert "line" not in message


def test_keys_show_before_any_key_points_to_generate(data_dir: Path) -> None:
    result = CliRunner().invoke(app, ["keys", "show"])
    assert result.exit_code != 0
    assert "backbeat keys generate" in getattr(result.exception, "message", "")


def test_the_secret_flag_is_show_secret_everywhere(data_dir: Path) -> None:
    assert CliRunner().invoke(app, ["keys", "generate"]).exit_code == 0
    shown = CliRunner().invoke(app, ["keys", "show", "--show-secret"])
    assert shown.exit_code == 0, shown.output
    assert "ENCRYPTION_KEY=" in shown.stdout
    hidden = CliRunner().invoke(app, ["keys", "show"])
    assert "ENCRYPTION_KEY=" not in hidden.stdout
    legacy = CliRunner().invoke(app, ["keys", "show", "--reveal"])  # the old spelling still works
    assert "ENCRYPTION_KEY=" in legacy.stdout


def test_a_worker_says_it_started_and_what_it_did(data_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "song.wav").write_bytes(_wav())
    entry = {
        "id": TRACK,
        "name": "S",
        "artists": [{"id": ARTIST, "name": "B"}],
        "audio": "song.wav",
    }
    manifest = tmp_path / "tracks.jsonl"
    manifest.write_text(json.dumps(entry) + "\n", encoding="utf-8")
    assert CliRunner().invoke(app, ["import", str(manifest)]).exit_code == 0
    result = CliRunner().invoke(app, ["worker", "--once"])
    assert result.exit_code == 0, result.output
    assert "processed 1 job(s)" in result.stdout
    log = result.stderr
    assert "analysis worker " in log
    assert "started (database)" in log
    assert f"job {TRACK} (attempt 1): done in " in log
    assert "stopped: 1 job(s) done, 0 failed" in log


def test_help_shows_plain_metavars_and_no_markup() -> None:
    backbeat = str(Path(sys.executable).with_name("backbeat"))
    env = {**os.environ, "COLUMNS": "120"}
    for args in (
        ["import", "--help"],
        ["recommend", "train", "--help"],
        ["keys", "show", "--help"],
    ):
        result = subprocess.run(
            [backbeat, *args], env=env, capture_output=True, text=True, timeout=60, check=True
        )
        for raw in ("<bool>", "<path>", "<str>", "<int>", "``"):
            assert raw not in result.stdout, (args, raw)
    train = subprocess.run(
        [backbeat, "recommend", "train", "--help"], env=env, capture_output=True, text=True
    ).stdout
    assert "--factors" in train
    assert "INTEGER" in train
