"""``backbeat anonymize`` (a CSV made k-anonymous, l-diverse and t-close), ``backbeat privacy
export|erase|verify-erasure|requests|records|scan`` and ``backbeat retention sweep``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from backbeat.errors import ValidationError

if TYPE_CHECKING:
    from backbeat.compliance import Hierarchy

__all__ = ["anonymize_csv", "privacy_app", "retention_app"]


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


_FAST_KINDS = ("email", "iban", "card", "ip", "spotify_user")


def _pseudonym_key() -> bytes:
    from backbeat.security import local_keyring
    from backbeat.settings import Settings

    keyring = local_keyring(Settings.from_env())[0]
    return bytes(keyring.derive(b"backbeat pseudonyms")[1])


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
    pseudonymize_columns: Annotated[
        str,
        typer.Option(
            "--pseudonymize",
            help="Columns to replace by keyed HMAC pseudonyms (key from the keyring).",
        ),
    ] = "",
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
    from backbeat.compliance import pseudonymize, scan_frame

    written = result.frame
    chosen = [c.strip() for c in pseudonymize_columns.split(",") if c.strip()]
    if chosen:
        written = pseudonymize(written, chosen, _pseudonym_key())
    written.to_csv(out, index=False)
    report = result.to_dict()
    report["pseudonymized"] = chosen
    # personal data left in columns nobody generalised or pseudonymised: say so
    untouched = [c for c in written.columns if c not in quasi.split(",") and c not in chosen]
    report["pii_left"] = scan_frame(written[untouched], kinds=_FAST_KINDS)
    for column, kinds in report["pii_left"].items():
        typer.echo(
            f"warning: column {column} still holds personal data ("
            + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items()))
            + "): pseudonymise it (--pseudonymize) or drop it",
            err=True,
        )
    if as_json:
        typer.echo(json.dumps(report))
        return
    typer.echo(
        f"wrote {out}: {report['rows']:,} rows in {report['classes']:,} classes; k = "
        f"{report['k']}, l = {report['l']}, t = {report['t']}, suppressed "
        f"{report['suppressed']}, NCP {report['ncp']:.4f}, discernibility "
        f"{report['discernibility']:.3g}"
    )


privacy_app = typer.Typer(
    help="Data-subject requests, exports, erasure and its proof, records of processing.",
    no_args_is_help=True,
)
retention_app = typer.Typer(help="Retention periods per data category.", no_args_is_help=True)


def _with_compliance(work: Any, *, audit: tuple[str, str] | None = None) -> Any:
    """Run ``work(gdpr)`` on the configured toolkit (migrated when embedded); with
    ``audit``, record the operator's action with its real outcome."""
    import time

    import anyio

    from backbeat.cli._common import record_outcome
    from backbeat.errors import BackbeatError
    from backbeat.settings import Settings
    from backbeat.toolkit import Toolkit

    async def run() -> Any:
        async with Toolkit(Settings.from_env()) as toolkit:
            if toolkit.settings.database_backend == "sqlite":
                toolkit.settings.data_dir.mkdir(parents=True, exist_ok=True)
                await toolkit.migrate()
            started = time.perf_counter()
            try:
                result = await work(toolkit.compliance)
            except BackbeatError as exc:
                await record_outcome(toolkit, audit, started, exc.code)
                raise
            await record_outcome(toolkit, audit, started, None)
            return result

    return anyio.run(run)


@privacy_app.command("export")
def privacy_export(
    user: Annotated[str, typer.Argument(help="The data subject's user ID.")],
    out: Annotated[Path, typer.Option(help="The ZIP to write.")],
) -> None:
    """Everything held on USER: a ZIP of JSON and CSV per category with a manifest."""

    async def work(gdpr: Any) -> bytes:
        data: bytes = await gdpr.export_subject(user)
        return data

    archive = _with_compliance(work, audit=("privacy.export", "privacy"))
    out.write_bytes(archive)
    out.chmod(0o600)
    typer.echo(f"wrote {out} ({len(archive):,} bytes)")


@privacy_app.command("erase")
def privacy_erase(
    user: Annotated[str, typer.Argument(help="The data subject's user ID.")],
    yes: Annotated[bool, typer.Option("--yes", help="Confirm: this cannot be undone.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Erase USER from every category (tombstones where records must stay)."""
    if not yes:
        raise ValidationError(
            "cli.confirm_required",
            details={"option": "--yes"},
            message="Erasure cannot be undone: add {option} to confirm.",
        )

    async def work(gdpr: Any) -> dict[str, Any]:
        report: dict[str, Any] = (await gdpr.erase_subject(user)).to_dict()
        return report

    report = _with_compliance(work, audit=("privacy.erase", "privacy"))
    if as_json:
        typer.echo(json.dumps(report))
        return
    for name, done in report["categories"].items():
        typer.echo(f"{name:24s} {done['action']:11s} {done['rows']:8d}")


@privacy_app.command("verify-erasure")
def privacy_verify_erasure(
    user: Annotated[str, typer.Argument(help="The erased user's ID.")],
    log: Annotated[
        list[Path] | None, typer.Option(help="A log file to scan too; repeatable.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Scan the database, Redis, the data folder and logs for USER; exit 1 on any hit."""

    async def work(gdpr: Any) -> list[dict[str, Any]]:
        hits: list[dict[str, Any]] = await gdpr.verify_erasure(user, log_paths=log or [])
        return hits

    hits = _with_compliance(work)
    if as_json:
        typer.echo(json.dumps({"clean": not hits, "hits": hits}))
    else:
        for hit in hits:
            typer.echo(f"{hit['where']:9s} {hit['what']}  ({hit['count']})")
        typer.echo("clean: the ID appears nowhere" if not hits else f"{len(hits)} place(s) hold it")
    if hits:
        raise typer.Exit(1)


@privacy_app.command("requests")
def privacy_requests(
    overdue: Annotated[bool, typer.Option(help="Only open requests past their due date.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Data-subject requests with their status and deadline."""

    async def work(gdpr: Any) -> list[dict[str, Any]]:
        return [r.to_dict() for r in await gdpr.list_requests(overdue=overdue)]

    found = _with_compliance(work)
    if as_json:
        typer.echo(json.dumps({"requests": found}))
        return
    for r in found:
        typer.echo(f"{r['id']}  {r['type']:13s} {r['status']:20s} due {r['due_at']}")
    typer.echo(f"{len(found)} request(s)" + (" overdue" if overdue else ""))


@privacy_app.command("records")
def privacy_records(
    output: Annotated[str, typer.Option("--format", help="markdown or json.")] = "markdown",
) -> None:
    """Records of processing activities (GDPR Art. 30)."""
    if output not in ("markdown", "json"):
        raise typer.BadParameter("markdown or json", param_hint="--format")

    async def work(gdpr: Any) -> str:
        found = await gdpr.records_of_processing()
        return json.dumps(found) if output == "json" else str(gdpr.records_markdown(found))

    typer.echo(_with_compliance(work))


@privacy_app.command("scan")
def privacy_scan(
    file: Annotated[Path, typer.Argument(help="A CSV (by column) or a text file (by line).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Find personal data: e-mail, phone, IBAN, payment card, IP, Spotify user."""
    from backbeat.compliance import scan_file

    report = scan_file(file)
    if as_json:
        typer.echo(json.dumps(report))
        return
    for column, kinds in report.get("columns", {}).items():
        typer.echo(f"{column}: " + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items())))
    for hit in report.get("lines", []):
        typer.echo(f"line {hit['line']}: {hit['kind']}")


@retention_app.command("sweep")
def retention_sweep(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Count only.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Delete what each category holds past its retention period."""

    async def work(gdpr: Any) -> dict[str, int]:
        swept: dict[str, int] = await gdpr.retention_sweep(dry_run=dry_run)
        return swept

    counts = _with_compliance(work, audit=None if dry_run else ("retention.sweep", "privacy"))
    if as_json:
        typer.echo(json.dumps({"dry_run": dry_run, "counts": counts}))
        return
    verb = "would delete" if dry_run else "deleted"
    for name, n in counts.items():
        typer.echo(f"{name:24s} {verb} {n:,}")
