"""``backbeat analyze``: audio features for files and folders (see :mod:`backbeat.audio`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from backbeat.errors import BackbeatError

__all__ = ["analyze"]


def analyze(
    paths: Annotated[
        list[str], typer.Argument(help="Audio files or folders (searched recursively).")
    ],
    fmt: Annotated[
        str, typer.Option("--format", "-f", help="table, jsonl or csv.", case_sensitive=False)
    ] = "table",
    jobs: Annotated[int, typer.Option("--jobs", "-j", min=1, help="Worker processes.")] = 1,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Append rows to this file (jsonl or csv) as they finish; a re-run skips "
            "the files it already holds.",
        ),
    ] = None,
    scheduler: Annotated[
        str | None,
        typer.Option(help="Analyse on the Dask cluster of this scheduler (tcp://host:8786)."),
    ] = None,
    scheduler_timeout: Annotated[
        float, typer.Option(min=0.1, help="Seconds to wait for the scheduler to answer.")
    ] = 10.0,
    plot: Annotated[
        Path | None, typer.Option(help="Draw waveform, beats, chroma and loudness (one file).")
    ] = None,
) -> None:
    """Spotify-style audio features for every file; undecodable files are reported, not fatal."""
    from rich.console import Console
    from rich.progress import Progress

    from backbeat.audio import find_audio

    fmt = fmt.lower()
    if fmt not in ("table", "jsonl", "csv"):
        raise BackbeatError(
            "cli.analyze_format",
            details={"value": fmt},
            message="Unknown format {value}: use table, jsonl or csv.",
        )
    if output is not None and fmt == "table":
        raise BackbeatError(
            "cli.analyze_output_format",
            details={"path": str(output)},
            message="--output {path} takes rows: add --format jsonl or --format csv.",
        )
    files = list(find_audio(paths))
    if plot is not None:
        _plot_one(files, plot)
        return
    errors = Console(stderr=True)
    skipped = 0
    if output is not None:
        from backbeat.audio import done_files

        done = done_files(output)
        skipped = sum(1 for f in files if f in done)
        files = [f for f in files if f not in done]
    rows = []
    sink = _Sink(output, fmt) if output is not None else None
    try:
        with Progress(console=errors, transient=True, disable=not errors.is_terminal) as progress:
            task = progress.add_task("analysing", total=len(files))
            for row in _rows(files, jobs, scheduler, scheduler_timeout):
                rows.append(row)
                progress.advance(task)
                if sink is not None:
                    sink.write(row)
                elif fmt == "jsonl":
                    from backbeat.audio import format_rows

                    typer.echo(format_rows([row], "jsonl"), nl=False)
    finally:
        if sink is not None:
            sink.close()
    if sink is None and fmt == "csv":
        from backbeat.audio import format_rows

        typer.echo(format_rows(rows, "csv"), nl=False)
    elif fmt == "table":
        _print_table(rows)
    failed = [r for r in rows if "error" in r]
    for row in failed:
        errors.print(
            f"skipped {row['file']}: {row['error']['message']} [{row['error']['code']}]",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
    if output is not None or scheduler is not None:
        where = f" on {scheduler}" if scheduler else ""
        kept = f"; {skipped} already in {output}" if output is not None else ""
        errors.print(
            f"analysed {len(rows) - len(failed)} files{where}, {len(failed)} failed{kept}",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
    if files and len(failed) == len(files):
        raise typer.Exit(1)


def _rows(
    files: list[str], jobs: int, scheduler: str | None, timeout_s: float
) -> Iterator[dict[str, Any]]:
    from backbeat.audio import analyze_files, analyze_files_on_cluster

    if scheduler is not None:
        return analyze_files_on_cluster(files, scheduler, connect_timeout_s=timeout_s)
    return analyze_files(files, jobs)


class _Sink:
    """Rows appended to ``--output`` one by one, flushed, so an interrupted run keeps
    what it finished (a cut line is completed first)."""

    def __init__(self, path: Path, fmt: str) -> None:
        from backbeat.audio import format_rows

        self.fmt = fmt
        try:
            fresh = not path.exists() or path.stat().st_size == 0
            self.file = path.open("a", encoding="utf-8")
            if not fresh:
                with path.open("rb") as existing:
                    existing.seek(-1, 2)
                    if existing.read(1) != b"\n":
                        self.file.write("\n")
        except OSError as exc:
            raise BackbeatError(
                "cli.analyze_output",
                details={"path": str(path), "cause": exc.strerror or type(exc).__name__},
                message="Cannot write {path}: {cause}.",
            ) from None
        if fresh and fmt == "csv":
            self.file.write(format_rows([], "csv"))

    def write(self, row: dict[str, Any]) -> None:
        from backbeat.audio import format_rows

        self.file.write(format_rows([row], self.fmt, header=False))
        self.file.flush()

    def close(self) -> None:
        self.file.close()


def _print_table(rows: list[dict[str, object]]) -> None:
    from rich.console import Console
    from rich.table import Table

    from backbeat.audio import key_name
    from backbeat.spotify import DESCRIPTORS

    table = Table(
        "file",
        "duration",
        "tempo",
        "meter",
        "key",
        "loudness",
        "dance",
        "energy",
        "speech",
        "acoustic",
        "instr.",
        "live",
        "valence",
    )
    for row in rows:
        if "error" in row:
            continue
        table.add_row(
            str(row["file"]),
            f"{int(row['duration_ms']) / 1000:.1f} s",  # type: ignore[call-overload]
            f"{row['tempo']:.1f}",
            f"{row['time_signature']}/4",
            key_name(int(row["key"]), int(row["mode"])),  # type: ignore[call-overload]
            f"{row['loudness']:.1f}",
            *(f"{row[k]:.2f}" for k in DESCRIPTORS),
        )
    console = Console()
    if not console.is_terminal:
        console.width = 200
    console.print(table)


def _plot_one(files: list[str], out: Path) -> None:
    from backbeat.audio import analyze_all, plot_analysis

    if len(files) != 1:
        raise BackbeatError(
            "cli.analyze_plot",
            details={"count": len(files)},
            message="--plot draws one file; {count} were given.",
        )
    features, analysis = analyze_all(files[0])
    plot_analysis(files[0], features, analysis, out)
    typer.echo(str(out))
