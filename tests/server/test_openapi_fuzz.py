"""Schemathesis against the OpenAPI document: generated requests never get a 5xx."""

from __future__ import annotations

import tempfile
from pathlib import Path

import anyio
import pytest
from hypothesis import HealthCheck, settings

schemathesis = pytest.importorskip("schemathesis")

from backbeat import Settings  # noqa: E402
from backbeat.catalogue import ApiKeyRepository  # noqa: E402
from backbeat.server import api_key_scheme, create_app  # noqa: E402
from backbeat.toolkit import Toolkit  # noqa: E402

DATA = Path(tempfile.mkdtemp(prefix="bbfuzz"))
SETTINGS = Settings.from_env(
    {
        "BACKBEAT_DATA_DIR": str(DATA),
        "BACKBEAT_RATE_LIMIT_READ": "10000/s",
        "BACKBEAT_RATE_LIMIT_WRITE": "10000/s",
    }
)
KEY = api_key_scheme.generate()


async def _setup() -> None:
    async with Toolkit(SETTINGS) as toolkit:
        await toolkit.migrate()
        await ApiKeyRepository(toolkit.database_engine()).add(
            KEY.key_id, "fuzz", KEY.hash, frozenset({"read", "write"})
        )


anyio.run(_setup)
schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(SETTINGS))


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors(case) -> None:  # type: ignore[no-untyped-def]
    response = case.call(headers={"Authorization": f"Bearer {KEY.plaintext}"})
    assert response.status_code < 500, (case.method, case.formatted_path, response.text[:300])
    if response.status_code >= 400 and case.path != "/metrics":
        error = response.json()["error"]  # Spotify's error shape, always
        assert error["status"] == response.status_code
