"""Logging set-up for backbeat's own programs (the CLI and the service).

The library itself only calls ``logging.getLogger(__name__)``: an application
that embeds backbeat keeps control of its handlers. Only ``backbeat serve`` and
the other commands call :func:`configure_logging`.
"""

from __future__ import annotations

import logging

__all__ = ["configure_logging"]


def configure_logging(level: str) -> None:
    """One stderr handler with timestamps at ``level`` (DEBUG..CRITICAL)."""
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        force=True,
    )
