"""Waiting for a service started as a subprocess to answer."""

from __future__ import annotations

import subprocess
import time

import httpx2 as httpx


def wait_http(url: str, proc: subprocess.Popen[bytes], what: str, timeout_s: float = 60) -> None:
    """Poll ``url`` until it answers below 500 (``/health`` may say 503: a backend is down
    but the service is up); fail if ``proc`` exits first."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            status = httpx.get(url, timeout=1).status_code
            if status < 500 or (status == 503 and url.endswith("/health")):
                return
        except httpx.TransportError:
            pass
        assert proc.poll() is None, f"{what} exited"
        assert time.monotonic() < deadline, f"{what} did not come up"
        time.sleep(0.2)
