"""The import rules of ARCHITECTURE.md, checked on the source so that they stay true.

Every ``import`` in ``src/backbeat`` (those inside functions too) is read with
:mod:`ast`. Two rules: a concern imports only the concerns its row of the map
allows, and never another package's private (``_name``) module.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "backbeat"

#: concern -> the concerns it may import (ARCHITECTURE.md, "Rules" and "Map").
_LOW = {"errors", "_version"}
ALLOWED: dict[str, set[str]] = {
    "errors": set(),
    "_version": set(),
    "spotify": set(),
    "_health": set(),
    "core": _LOW,
    "cache": _LOW,
    # The key manager reads its provider from settings and shares key usage counters
    # through the database (create_key_manager).
    "security": _LOW | {"settings", "storage"},
    "ratelimit": _LOW,
    "i18n": _LOW,
    "validation": _LOW | {"spotify"},
    "settings": _LOW | {"i18n", "ratelimit"},
    "storage": _LOW,
    "audit": _LOW | {"storage", "security"},
    "audio": _LOW | {"spotify"},
    "recommend": _LOW | {"validation", "storage", "spotify"},
    # create_system_monitor reads its file and URLs from settings.
    "monitoring": _LOW | {"settings"},
    "analytics": _LOW,
    # the privacy tables, the keyring, audit records of transitions, per-user model rows
    "compliance": _LOW | {"settings", "storage", "security", "audit", "recommend"},
    "streaming": _LOW | {"audio"},  # packaging decodes and measures loudness
    "toolkit": _LOW
    | {
        "settings",
        "_health",
        "core",
        "cache",
        "security",
        "ratelimit",
        "audit",
        "storage",
        "audio",
        "recommend",
        "monitoring",
        "analytics",
        "compliance",
        "streaming",
    },
    "catalogue": _LOW
    | {"settings", "storage", "security", "validation", "audio", "recommend", "spotify"},
}
EVERYTHING = {"server", "cli", "__init__"}  # the assemblers
#: The one private import the rules allow: settings reads the shipped-locale list
#: from a stdlib-only module instead of importing Babel through i18n's face.
PRIVATE_EXCEPTIONS = {("settings", "backbeat.i18n._catalogs")}


def _concern(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _module_name(path: Path) -> str:
    relative = path.relative_to(SRC.parent).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> Iterator[tuple[int, str]]:
    """``(line, dotted module)`` for each backbeat import in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = _module_name(path)
    if path.name != "__init__.py":
        package = package.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("backbeat"):
                    yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            if not module.startswith("backbeat"):
                continue
            yield node.lineno, module
            for alias in node.names:  # ``from backbeat.x import _private`` names a module
                private = alias.name.startswith("_") and not alias.name.startswith("__")
                if (
                    private
                    and (SRC.parent / module.replace(".", "/") / f"{alias.name}.py").exists()
                ):
                    yield node.lineno, f"{module}.{alias.name}"


def _sources() -> list[Path]:
    return sorted(SRC.rglob("*.py"))


def _violations() -> tuple[list[str], list[str]]:
    layers: list[str] = []
    private: list[str] = []
    for path in _sources():
        here = _module_name(path)
        mine = _concern(here)
        for line, target in _imports(path):
            theirs = _concern(target)
            where = f"{path.relative_to(SRC.parent)}:{line} imports {target}"
            if theirs != mine and mine not in EVERYTHING and theirs not in ALLOWED[mine]:
                layers.append(where)
            hidden = [p for p in target.split(".")[2:] if p.startswith("_")]
            outside = not here.startswith(".".join(target.split(".")[:2]))
            allowed = (mine, target) in PRIVATE_EXCEPTIONS
            if hidden and outside and theirs != "__init__" and not allowed:
                private.append(where)
    return layers, private


def test_every_concern_is_in_the_map() -> None:
    concerns = {_concern(_module_name(p)) for p in _sources()}
    assert concerns <= set(ALLOWED) | EVERYTHING


def test_no_import_runs_against_the_layers() -> None:
    layers, _ = _violations()
    assert layers == []


def test_no_import_reaches_into_another_packages_private_module() -> None:
    _, private = _violations()
    assert private == []


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from backbeat.server._store import Store\n", ["backbeat.server._store"]),
        ("from backbeat.audio import _batch\n", ["backbeat.audio", "backbeat.audio._batch"]),
        ("import backbeat.cache._redis\n", ["backbeat.cache._redis"]),
    ],
)
def test_the_checker_sees_private_imports(
    source: str, expected: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = SRC / "validation" / "__probe__.py"
    monkeypatch.setattr(Path, "read_text", lambda self, encoding=None: source)
    assert [m for _, m in _imports(fake)] == expected
