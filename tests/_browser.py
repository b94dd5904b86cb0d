"""What the browser tests need: Debian's Chromium, Playwright (PyPI, driving that binary;
it downloads no browser) and hls.js from the npm registry under ``var/node`` (``make
test-deps`` installs them; the npm packages are installed here too when npm is there). Missing
pieces skip the test, or fail it under ``BACKBEAT_REQUIRE_SERVICES``."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REQUIRE_SERVICES

ROOT = Path(__file__).resolve().parents[1]
NODE_MODULES = ROOT / "var" / "node" / "node_modules"
HLS_JS = NODE_MODULES / "hls.js" / "dist" / "hls.min.js"
AXE_JS = NODE_MODULES / "axe-core" / "axe.min.js"
PACKAGES = ("hls.js@1.7.4", "axe-core@4.10.3")
NPM_INSTALL = ("npm", "install", "--silent", "--no-audit", "--no-fund")
#: Screenshots of the browser tests, kept after the run (var/ is not committed).
ARTIFACTS = ROOT / "var" / "test-artifacts"


def require_browser() -> None:
    missing = []
    if shutil.which("chromium") is None:
        missing.append("chromium (apt-get install chromium)")
    try:
        import playwright  # noqa: F401
    except ImportError:
        missing.append("playwright (pip)")
    if not (HLS_JS.exists() and AXE_JS.exists()) and shutil.which("npm"):
        subprocess.run(
            [*NPM_INSTALL, "--prefix", str(ROOT / "var" / "node"), *PACKAGES],
            check=False,
            timeout=300,
        )
    for package, path in zip(PACKAGES, (HLS_JS, AXE_JS), strict=True):
        if not path.exists():
            missing.append(f"{package} from npm (make test-deps)")
    if missing:
        message = "browser test needs " + ", ".join(missing)
        if REQUIRE_SERVICES:
            pytest.fail(message)
        pytest.skip(message)


def accessibility_violations(page: Any) -> list[str]:
    """axe-core's WCAG 2 A/AA violations of impact serious or critical on this page
    (evaluated through the DevTools protocol, which the page's CSP does not govern)."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(AXE_JS.read_text())
    found = page.evaluate(
        """async () => {
          const r = await axe.run(document, {runOnly: ['wcag2a', 'wcag2aa']});
          return r.violations.filter(v => ['serious', 'critical'].includes(v.impact))
            .map(v => v.id + ': ' + v.nodes.map(n => n.target.join(' ')).join(', '));
        }"""
    )
    return list(found)


def launch(pw: Any) -> Any:
    """Debian's Chromium, headless, allowed to play audio without a gesture."""
    return pw.chromium.launch(
        executable_path=shutil.which("chromium"),
        headless=True,
        args=["--autoplay-policy=no-user-gesture-required", "--no-sandbox"],
    )
