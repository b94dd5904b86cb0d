from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

from backbeat.audio import SPOTIFY_FIELDS
from backbeat.cli import app

FIELDS = set(SPOTIFY_FIELDS)


def _folder(audio_dir: Path, tmp_path: Path) -> Path:
    root = tmp_path / "music"
    (root / "nested").mkdir(parents=True)
    shutil.copy(audio_dir / "c_major_120.wav", root / "one.wav")
    shutil.copy(audio_dir / "d_minor_90_3.flac", root / "nested" / "two.flac")
    (root / "broken.mp3").write_bytes(b"\x00" * 512)
    (root / "notes.txt").write_text("not audio")
    return root


def test_jsonl_has_one_object_per_file_with_errors_reported(
    audio_dir: Path, tmp_path: Path
) -> None:
    root = _folder(audio_dir, tmp_path)
    result = CliRunner().invoke(app, ["analyze", str(root), "--format", "jsonl", "--jobs", "2"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    by_file = {row["file"]: row for row in rows}
    assert set(by_file) == {
        str(root / "broken.mp3"),
        str(root / "one.wav"),
        str(root / "nested" / "two.flac"),
    }
    assert by_file[str(root / "broken.mp3")]["error"]["code"] == "audio.decode_failed"
    assert f"skipped {root / 'broken.mp3'}" in result.stderr
    assert "[audio.decode_failed]" in result.stderr
    good = by_file[str(root / "nested" / "two.flac")]
    assert set(good) >= FIELDS
    assert (good["key"], good["mode"], good["time_signature"]) == (2, 0, 3)


def test_csv_and_table_outputs(audio_dir: Path, tmp_path: Path) -> None:
    root = _folder(audio_dir, tmp_path)
    result = CliRunner().invoke(app, ["analyze", str(root / "one.wav"), "--format", "csv"])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert rows[0]["file"] == str(root / "one.wav")
    assert rows[0]["key"] == "0"
    table = CliRunner().invoke(app, ["analyze", str(root / "one.wav")])
    assert table.exit_code == 0
    assert "C major" in table.stdout


def test_all_files_failing_exits_1(tmp_path: Path) -> None:
    (tmp_path / "bad.wav").write_bytes(b"RIFF nonsense")
    result = CliRunner().invoke(app, ["analyze", str(tmp_path / "bad.wav"), "--format", "jsonl"])
    assert result.exit_code == 1
    assert json.loads(result.stdout.splitlines()[0])["error"]["code"] == "audio.decode_failed"


def test_plot_writes_a_png(audio_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "plot.png"
    result = CliRunner().invoke(
        app, ["analyze", str(audio_dir / "c_major_120.wav"), "--plot", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_unknown_format_is_a_clear_error(audio_dir: Path) -> None:
    result = CliRunner().invoke(app, ["analyze", str(audio_dir), "--format", "xml"])
    assert result.exit_code != 0
    assert "xml" in str(result.exception) or "xml" in result.output
