"""``backbeat anonymize``: a CSV made k-anonymous (Mondrian), l-diverse and t-close."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from backbeat.errors import ValidationError

if TYPE_CHECKING:
    from backbeat.compliance import Hierarchy

__all__ = ["anonymize_csv"]


def _hierarchies(values: list[str]) -> dict[str, Hierarchy]:
    from backbeat.compliance import read_hierarchy

    out: dict[str, Hierarchy] = {}
    for value in values:
        column, sep, file = value.partition("=")
        if not sep or not column or not file:
            raise ValidationError(
                "cli.hierarchy_option",
                details={"value": value},
                message="--hierarchy takes COLUMN=FILE; got {value!r}.",
            )
        path = Path(file)
        if not path.is_file():
            raise ValidationError(
                "cli.hierarchy_file",
                details={"file": file, "column": column},
                message="The hierarchy file {file} (for {column}) does not exist.",
            )
        out[column] = read_hierarchy(path)
    return out


def anonymize_csv(
    source: Annotated[Path, typer.Argument(help="The CSV to anonymise (header row first).")],
    k: Annotated[int, typer.Option("--k", min=1, help="Smallest class size.")],
    quasi: Annotated[str, typer.Option(help="Quasi-identifier columns, comma-separated.")],
    out: Annotated[Path, typer.Option(help="Where to write the anonymised CSV.")],
    sensitive: Annotated[
        str | None, typer.Option(help="The sensitive column (for --l and --t).")
    ] = None,
    l_value: Annotated[
        int | None, typer.Option("--l", min=1, help="l-diversity of the sensitive column.")
    ] = None,
    l_kind: Annotated[str, typer.Option(help="distinct or entropy.")] = "distinct",
    t: Annotated[
        float | None, typer.Option("--t", help="t-closeness (EMD to the whole table's).")
    ] = None,
    hierarchy: Annotated[
        list[str] | None,
        typer.Option(help="COLUMN=FILE: a generalisation hierarchy (ARX CSV); repeatable."),
    ] = None,
    max_suppression: Annotated[
        float, typer.Option(min=0, max=1, help="Share of rows that may be suppressed.")
    ] = 0.05,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Generalise quasi-identifiers (ranges such as 30-39, sets such as {F,M}) until every
    class has at least k rows; rows with empty quasi-identifiers are suppressed."""
    import pandas as pd

    from backbeat.compliance import anonymize

    if not source.is_file():
        raise ValidationError(
            "cli.input_missing",
            details={"file": str(source)},
            message="The input file {file} does not exist.",
        )
    try:
        frame = pd.read_csv(source, skipinitialspace=True)
    except (OSError, ValueError) as exc:
        raise ValidationError(
            "cli.input_unreadable",
            details={"file": str(source), "problem": str(exc)[:200]},
            message="Cannot read {file} as CSV: {problem}.",
        ) from None
    result = anonymize(
        frame,
        k=k,
        quasi=[c.strip() for c in quasi.split(",") if c.strip()],
        sensitive=sensitive,
        l=l_value,
        l_kind=l_kind,
        t=t,
        hierarchies=_hierarchies(hierarchy or []),
        max_suppression=max_suppression,
    )
    result.frame.to_csv(out, index=False)
    report = result.to_dict()
    if as_json:
        typer.echo(json.dumps(report))
        return
    typer.echo(
        f"wrote {out}: {report['rows']:,} rows in {report['classes']:,} classes; k = "
        f"{report['k']}, l = {report['l']}, t = {report['t']}, suppressed "
        f"{report['suppressed']}, NCP {report['ncp']:.4f}, discernibility "
        f"{report['discernibility']:.3g}"
    )
