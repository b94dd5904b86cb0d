"""The HTTP service (``backbeat serve``); needs the ``server`` extra."""

from backbeat.server._app import create_app

__all__ = ["create_app"]
