"""The HTTP service (``backbeat serve``); needs the ``server`` extra.

HTTP only: routers, pydantic contracts, middleware and dependencies over the
catalogue service (:mod:`backbeat.catalogue`) and the toolkit.
"""

from backbeat.server._app import create_app
from backbeat.server._auth import SCOPES, Principal, api_key_scheme, token_service
from backbeat.server._stream import stream_packager

__all__ = [
    "SCOPES",
    "Principal",
    "api_key_scheme",
    "create_app",
    "stream_packager",
    "token_service",
]
