"""``backbeat analyze``: audio features for files and folders (see :mod:`backbeat.audio`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

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
    plot: Annotated[
        Path | None, typer.Option(help="Draw waveform, beats, chroma and loudness (one file).")
    ] = None,
) -> None:
    """Spotify-style audio features for every file; undecodable files are reported, not fatal."""
    from rich.console import Console
    from rich.progress import Progress

    from backbeat.audio import analyze_files, find_audio, format_rows

    fmt = fmt.lower()
    if fmt not in ("table", "jsonl", "csv"):
        raise BackbeatError(
            "cli.analyze_format",
            details={"value": fmt},
            message="Unknown format {value}: use table, jsonl or csv.",
        )
    files = list(find_audio(paths))
    if plot is not None:
        _plot_one(files, plot)
        return
    errors = Console(stderr=True)
    rows = []
    with Progress(console=errors, transient=True, disable=not errors.is_terminal) as progress:
        task = progress.add_task("analysing", total=len(files))
        for row in analyze_files(files, jobs):
            rows.append(row)
            progress.advance(task)
            if fmt == "jsonl":
                typer.echo(format_rows([row], "jsonl"), nl=False)
    if fmt == "csv":
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
    if files and len(failed) == len(files):
        raise typer.Exit(1)


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
