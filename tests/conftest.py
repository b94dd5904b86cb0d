"""Shared fixtures: the anyio backend, real services, and a guard against empty runs."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from hypothesis import HealthCheck, settings

# Shared CI machines are slow and noisy: no per-example deadline, no "too slow" check.
settings.register_profile("backbeat", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("backbeat")

REQUIRE_SERVICES = os.environ.get("BACKBEAT_REQUIRE_SERVICES") == "1"
REDIS_URL = os.environ.get("BACKBEAT_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
DATABASE_URL = os.environ.get(
    "BACKBEAT_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _reachable(url: str) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 0), 1.0):
            return True
    except OSError:
        return False


def need_service(name: str, url: str) -> None:
    """Skip (locally) or fail (CI, BACKBEAT_REQUIRE_SERVICES=1) when ``url`` is unreachable."""
    if _reachable(url):
        return
    message = f"{name} is not reachable at {url}"
    if REQUIRE_SERVICES:
        pytest.fail(message + " and BACKBEAT_REQUIRE_SERVICES=1")
    pytest.skip(message)


@pytest.fixture
def redis_url() -> str:
    need_service("Redis", REDIS_URL)
    return REDIS_URL


@pytest.fixture
def key_prefix() -> str:
    """A key prefix of this test's own, so parallel runs never share keys."""
    return f"bbtest:{uuid.uuid4().hex[:12]}:"


@pytest.fixture
async def redis_client(redis_url: str, key_prefix: str) -> AsyncIterator[object]:
    from redis.asyncio import BlockingConnectionPool, Redis

    # As the toolkit does: bursts wait for one of 100 connections instead of failing.
    client = Redis.from_pool(BlockingConnectionPool.from_url(redis_url, max_connections=100))
    try:
        yield client
    finally:
        keys = [k async for k in client.scan_iter(match=key_prefix + "*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


@pytest.fixture
def postgres_url() -> str:
    need_service("PostgreSQL", DATABASE_URL)
    return DATABASE_URL


@pytest.fixture
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # A run in which nothing passed (all skipped or deselected) proves nothing.
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    passed = len(reporter.stats.get("passed", [])) if reporter is not None else 1
    if exitstatus == 0 and passed == 0:
        session.exitstatus = pytest.ExitCode.NO_TESTS_COLLECTED


@pytest.fixture
def private_redis(tmp_path: Path, free_port: int) -> Iterator[tuple[int, Any, Any]]:
    """A redis-server of this test's own, which the test may stop and restart."""
    binary = shutil.which("redis-server")
    if binary is None:
        if REQUIRE_SERVICES:
            pytest.fail("redis-server is not installed")
        pytest.skip("redis-server is not installed")

    procs: list[subprocess.Popen[bytes]] = []

    def start() -> None:
        proc = subprocess.Popen(
            [
                binary,
                "--port",
                str(free_port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(tmp_path),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        procs.append(proc)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", free_port), 0.2).close()
                return
            except OSError:
                assert time.monotonic() < deadline, "private redis-server did not start"
                time.sleep(0.02)

    def stop() -> None:
        for p in procs:
            p.terminate()
            p.wait(timeout=10)

    start()
    try:
        yield free_port, start, stop
    finally:
        stop()
