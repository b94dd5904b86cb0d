"""SoftHSM2, the reference software PKCS#11 module: one configuration per test session.

A module reads its configuration once, when first initialised in a process, so the
session creates every token it needs up front in a temporary ``SOFTHSM2_CONF``
directory (removed afterwards); tests stay apart by using key labels of their own.
``.ci/run`` (and ``make test``) install Debian's ``softhsm2`` when missing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import REQUIRE_SERVICES

MODULES = (
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
)
TOKENS = ("contract", "errors", "pin", "cli", "service")
PIN, SO_PIN = "4921-pin", "so-8812"


@dataclass(frozen=True)
class SoftHsm:
    module: str
    conf: Path
    pin: str = PIN

    def config(self, token: str = "contract", label: str | None = None) -> dict[str, str]:
        return {
            "module": self.module,
            "token": token,
            "pin": self.pin,
            "key_label": label or f"k-{uuid.uuid4().hex[:10]}",
        }

    def env(self, token: str, label: str) -> dict[str, str]:
        return {
            "SOFTHSM2_CONF": str(self.conf),
            "BACKBEAT_KEY_PROVIDER": "pkcs11",
            "BACKBEAT_PKCS11_MODULE": self.module,
            "BACKBEAT_PKCS11_TOKEN": token,
            "BACKBEAT_PKCS11_PIN": self.pin,
            "BACKBEAT_PKCS11_KEY_LABEL": label,
        }


@pytest.fixture(scope="session")
def softhsm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SoftHsm]:
    util = shutil.which("softhsm2-util")
    module = next((m for m in MODULES if Path(m).is_file()), None)
    if util is None or module is None:
        message = "SoftHSM2 is not installed (apt-get install softhsm2)"
        if REQUIRE_SERVICES:
            pytest.fail(message + " and BACKBEAT_REQUIRE_SERVICES=1")
        pytest.skip(message)
    root = tmp_path_factory.mktemp("softhsm")
    (root / "tokens").mkdir()
    conf = root / "softhsm2.conf"
    conf.write_text(
        f"directories.tokendir = {root / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n"
    )
    previous = os.environ.get("SOFTHSM2_CONF")
    os.environ["SOFTHSM2_CONF"] = str(conf)
    for label in TOKENS:
        subprocess.run(
            [util, "--init-token", "--free", "--label", label, "--so-pin", SO_PIN, "--pin", PIN],
            check=True,
            capture_output=True,
        )
    try:
        yield SoftHsm(module, conf)
    finally:
        if previous is None:
            os.environ.pop("SOFTHSM2_CONF", None)
        else:
            os.environ["SOFTHSM2_CONF"] = previous
        shutil.rmtree(root, ignore_errors=True)
