"""``backbeat audit verify|export``: the tamper-evident audit trail."""

from __future__ import annotations

from typing import Annotated

import typer

__all__ = ["audit_app"]

audit_app = typer.Typer(help="The tamper-evident audit trail.", no_args_is_help=True)


@audit_app.command("verify")
def audit_verify(
    chain: Annotated[str | None, typer.Option(help="One chain (default: every chain).")] = None,
) -> None:
    """Check every link, MAC and signed checkpoint; exit 1 naming the first bad event."""
    import anyio

    from backbeat.audit import verify_chain
    from backbeat.toolkit import Toolkit

    async def run() -> bool:
        async with Toolkit.from_env() as tk:
            trail = tk.audit
            names = [chain] if chain else await trail.store.chains()
            ok = True
            for name in names:
                report = await verify_chain(trail.store, trail.sealer, name)
                typer.echo(report.describe(), err=not report.ok)
                ok = ok and report.ok
            if not names:
                typer.echo("audit log is empty")
            return ok

    if not anyio.run(run):
        raise typer.Exit(1)


@audit_app.command("export")
def audit_export(
    actor: Annotated[str | None, typer.Option()] = None,
    action: Annotated[str | None, typer.Option()] = None,
    resource: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Write matching events to stdout as JSON Lines."""
    import sys

    import anyio

    from backbeat.toolkit import Toolkit

    async def run() -> None:
        async with Toolkit.from_env() as tk:
            await tk.audit.export_jsonl(sys.stdout, actor=actor, action=action, resource=resource)

    anyio.run(run)
