"""Where a PKCS#11 master key lives: module, token, PIN (or PIN file) and key label.

The PIN never appears in a ``repr`` or an error; errors name the setting instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from backbeat.security._errors import HsmError

__all__ = ["Pkcs11Config", "read_pin_file"]

_FIELDS = ("module", "token", "pin", "pin_file", "key_label", "allow_extractable", "pool_size")


@dataclass(frozen=True)
class Pkcs11Config:
    """Where the master key lives. The PIN never appears in ``repr`` or in an error."""

    module: str
    token: str
    pin: str = field(repr=False)
    key_label: str = "backbeat-master"
    allow_extractable: bool = False
    pool_size: int = 2

    @classmethod
    def from_mapping(cls, config: Mapping[str, Any]) -> Pkcs11Config:
        """From ``configure_hsm``'s dict: ``module``, ``token``, ``pin`` or ``pin_file``,
        ``key_label``, ``allow_extractable``, ``pool_size`` (``BACKBEAT_PKCS11_*`` names
        and their lower-case forms are accepted too)."""
        values: dict[str, Any] = {}
        for key, value in config.items():
            name = str(key).lower().removeprefix("backbeat_").removeprefix("pkcs11_")
            if name not in _FIELDS:
                raise HsmError(
                    "security.hsm_config",
                    details={"field": str(key), "known": ", ".join(_FIELDS)},
                    message="Unknown HSM setting {field}; the settings are: {known}.",
                )
            values[name] = value
        for required in ("module", "token"):
            if not values.get(required):
                raise HsmError(
                    "security.hsm_config",
                    details={"field": f"BACKBEAT_PKCS11_{required.upper()}"},
                    message="The HSM configuration needs {field}.",
                )
        pin = values.pop("pin", None)
        pin_file = values.pop("pin_file", None)
        if pin is None and pin_file is not None:
            pin = read_pin_file(Path(str(pin_file)))
        if not pin:
            raise HsmError(
                "security.hsm_config",
                details={"field": "BACKBEAT_PKCS11_PIN or BACKBEAT_PKCS11_PIN_FILE"},
                message="The HSM configuration needs {field}.",
            )
        pin_text = pin.get_secret_value() if hasattr(pin, "get_secret_value") else str(pin)
        return cls(
            module=str(values["module"]),
            token=str(values["token"]),
            pin=pin_text,
            key_label=str(values.get("key_label") or "backbeat-master"),
            allow_extractable=_truthy(values.get("allow_extractable", False)),
            pool_size=max(1, int(values.get("pool_size", 2))),
        )


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def read_pin_file(path: Path) -> str:
    """The PIN in ``path`` (first line, stripped); the error names the file, not its content."""
    try:
        text = path.read_text()
    except OSError as e:
        raise HsmError(
            "security.hsm_config",
            details={"field": f"BACKBEAT_PKCS11_PIN_FILE ({path}: {e.strerror or 'unreadable'})"},
            message="The HSM configuration needs {field}.",
        ) from None
    lines = text.splitlines()
    return lines[0].strip() if lines else ""
