"""The ``backbeat`` command line (typer); one module per command group.

``backbeat.cli:main`` is the console script; ``backbeat.cli.app`` the typer app
(for ``typer.testing.CliRunner``).
"""

from backbeat.cli._app import app, main

__all__ = ["app", "main"]
