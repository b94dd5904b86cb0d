"""The ``backbeat`` command: the root, its command groups, and the error boundary.

``backbeat serve`` starts the HTTP service; ``backbeat db upgrade`` migrates the
schema; ``backbeat audit verify|export`` checks and exports the audit trail;
``backbeat keys generate|rotate|show`` manages the keyring; ``backbeat analyze``
computes audio features for files and folders; ``backbeat apikey``, ``worker`` and
``import`` administer the service; ``backbeat recommend`` trains, evaluates, tunes
and serves models. Each group lives in its own module of this package. Bad input or
configuration exits with status 2 and one clear line, never a traceback.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from backbeat._version import __version__
from backbeat.cli._analytics import analytics_app
from backbeat.cli._analyze import analyze
from backbeat.cli._audit import audit_app
from backbeat.cli._keys import keys_app
from backbeat.cli._monitoring import monitoring_app
from backbeat.cli._privacy import anonymize_csv, privacy_app, retention_app
from backbeat.cli._recommend import recommend_app
from backbeat.cli._serve import db_app, serve
from backbeat.cli._service import apikey_app, import_catalogue, worker
from backbeat.cli._stream import stream_app
from backbeat.errors import BackbeatError

__all__ = ["app", "command", "main"]

app = typer.Typer(
    name="backbeat",
    help="Audio features, recommendations and the plumbing around them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"backbeat {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """backbeat: a toolkit and a self-hosted service for music backends."""


app.command()(serve)
app.add_typer(db_app, name="db")
app.add_typer(audit_app, name="audit")
app.add_typer(keys_app, name="keys")
app.command()(analyze)
app.add_typer(apikey_app, name="apikey")
app.command()(worker)
app.command("import")(import_catalogue)
app.add_typer(recommend_app, name="recommend")
app.add_typer(monitoring_app, name="monitoring")
app.add_typer(analytics_app, name="analytics")
app.command("anonymize")(anonymize_csv)
app.add_typer(privacy_app, name="privacy")
app.add_typer(retention_app, name="retention")
app.add_typer(stream_app, name="stream")


_NAMES = {"int": "INTEGER", "str": "TEXT", "float": "NUMBER", "bool": "BOOLEAN"}


def _plain_metavar(param: Any) -> None:
    if param.metavar is not None:
        return
    if getattr(param, "is_flag", False):
        param.metavar = ""
        return
    label = str(param.display_type(None)).strip("<>").split()[0].removeprefix("list[")
    label = _NAMES.get(label.rstrip("]"), label.upper())
    if param.param_type_name == "argument":  # its metavar is its name in typer's help
        param.display_type_rich = lambda ctx: label
    else:
        param.metavar = label


def _plain_metavars(command: Any) -> None:
    """Help that reads like other Unix tools: ``--port INTEGER``, ``MANIFEST``, nothing
    after a flag (typer's own are ``<int>``, ``{manifest}`` and ``<bool>``)."""
    for param in command.params:
        _plain_metavar(param)
    original = command.get_help_option

    def help_option(ctx: Any) -> Any:
        option = original(ctx)
        if option is not None:
            option.metavar = ""
        return option

    command.get_help_option = help_option
    for sub in getattr(command, "commands", {}).values():
        _plain_metavars(sub)


def command() -> Any:
    """The click command behind :data:`app`, with plain help."""
    built = typer.main.get_command(app)
    _plain_metavars(built)
    return built


def main() -> None:
    """Entry point: run the CLI, turning our errors into one line and exit status 2."""
    try:
        command()(prog_name="backbeat")
    except BackbeatError as e:
        typer.echo(f"backbeat: error: {e.message} [{e.code}]", err=True)
        raise SystemExit(2) from None
