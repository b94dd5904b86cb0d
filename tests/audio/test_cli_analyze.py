from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from backbeat.audio import SPOTIFY_FIELDS
from backbeat.cli import app

FIELDS = set(SPOTIFY_FIELDS)
ONE_SECOND = ("--scheduler-timeout", "1")


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


def _jsonl(text: str) -> list[dict[str, object]]:
    rows = []
    for line in text.splitlines():
        try:
            rows.append(json.loads(line))
        except ValueError:
            continue  # the cut line of an interrupted run
    return rows


def test_on_a_dask_cluster_the_rows_are_the_local_rows(audio_dir: Path, tmp_path: Path) -> None:
    from distributed import LocalCluster

    root = _folder(audio_dir, tmp_path)
    local = CliRunner().invoke(app, ["analyze", str(root), "--format", "jsonl"])
    assert local.exit_code == 0, local.output
    out = tmp_path / "rows.jsonl"
    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        remote = CliRunner().invoke(
            app,
            [
                "analyze",
                str(root),
                "-f",
                "jsonl",
                "-o",
                str(out),
                "--scheduler",
                cluster.scheduler_address,
            ],
        )
        assert remote.exit_code == 0, remote.output
        assert f"on {cluster.scheduler_address}" in remote.stderr
        workers = {w["id"] for w in cluster.scheduler_info["workers"].values()}
        assert len(workers) == 2
    by_file = lambda rows: {r["file"]: r for r in rows}  # noqa: E731
    assert by_file(_jsonl(out.read_text())) == by_file(_jsonl(local.stdout))


def test_a_rerun_skips_what_the_output_holds(audio_dir: Path, tmp_path: Path) -> None:
    root = _folder(audio_dir, tmp_path)
    out = tmp_path / "rows.jsonl"
    one = str(root / "one.wav")
    first = CliRunner().invoke(app, ["analyze", one, "-f", "jsonl", "-o", str(out)])
    assert first.exit_code == 0, first.output
    with out.open("a") as f:
        f.write('{"file": "cut sho')  # an interrupted run's last line
    again = CliRunner().invoke(app, ["analyze", str(root), "-f", "jsonl", "-o", str(out)])
    assert again.exit_code == 0, again.output
    assert f"1 already in {out}" in again.stderr
    rows = _jsonl(out.read_text())
    files = [r["file"] for r in rows]
    assert sorted(files) == sorted(
        {one, str(root / "broken.mp3"), str(root / "nested" / "two.flac")}
    )
    assert files.count(one) == 1
    csv_out = tmp_path / "rows.csv"
    for _ in range(2):
        done = CliRunner().invoke(app, ["analyze", str(root), "-f", "csv", "-o", str(csv_out)])
        assert done.exit_code == 0, done.output
    table = list(csv.reader(io.StringIO(csv_out.read_text())))
    assert table[0][0] == "file"
    assert len(table) == 1 + 3  # header once, each file once


def test_output_needs_rows_and_a_scheduler_must_answer(tmp_path: Path, audio_dir: Path) -> None:
    wav = str(audio_dir / "c_major_120.wav")
    cli = str(Path(sys.executable).with_name("backbeat"))
    table = subprocess.run(
        [cli, "analyze", wav, "-o", str(tmp_path / "x.jsonl")], capture_output=True, text=True
    )
    assert table.returncode != 0
    assert "--format jsonl" in table.stderr
    gone = subprocess.run(
        [cli, "analyze", wav, "-f", "jsonl", "--scheduler", "tcp://127.0.0.1:1", *ONE_SECOND],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert gone.returncode != 0
    assert "tcp://127.0.0.1:1" in gone.stderr
    assert "Traceback" not in gone.stderr
