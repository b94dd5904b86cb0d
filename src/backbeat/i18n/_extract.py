"""Find every translatable message in backbeat's source (a developer tool and a test).

A message is an error's English template, keyed by its message key (the error
code) as gettext *context*, so one code may have several wordings. Found:

- ``default_code`` / ``default_message`` of error classes (inherited too);
- calls with ``message="..."`` (and ``message_plural=``) whose first positional
  argument is the code literal, or which construct an error class;
- calls constructing a known error class without ``message=``: the class's
  default message under the given code.

String constants defined at module level are followed by name. Run
``python -m backbeat.i18n._extract`` to rewrite ``locales/backbeat.pot`` and
merge new messages into every ``.po`` (as untranslated entries).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Message", "extract"]

_SRC = Path(__file__).resolve().parents[1]


@dataclass(frozen=True, slots=True)
class Message:
    context: str
    msgid: str
    msgid_plural: str | None = None
    locations: tuple[str, ...] = field(default=(), compare=False)


def _const(node: ast.AST | None, names: dict[str, str]) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Name):
        return names.get(node.id)
    return None


def extract(root: Path = _SRC, *, user_facing_only: bool = True) -> list[Message]:
    """Every message under ``root``, sorted by (context, msgid).

    ``user_facing_only`` keeps the codes the catalogs translate (see
    :data:`backbeat.i18n._catalogs.USER_FACING`).
    """
    from backbeat.i18n._catalogs import is_user_facing

    trees = {p: ast.parse(p.read_text()) for p in sorted(root.rglob("*.py"))}
    classes: dict[str, dict[str, str | None]] = {}
    parents: dict[str, list[str]] = {}
    for tree in trees.values():
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                own: dict[str, str | None] = {}
                for st in node.body:
                    if (
                        isinstance(st, ast.Assign)
                        and len(st.targets) == 1
                        and isinstance(st.targets[0], ast.Name)
                        and st.targets[0].id in ("default_code", "default_message")
                    ):
                        own[st.targets[0].id] = _const(st.value, {})
                classes[node.name] = own
                parents[node.name] = [b.id for b in node.bases if isinstance(b, ast.Name)]

    def inherited(name: str, attr: str) -> str | None:
        seen = [name]
        while seen:
            current = seen.pop(0)
            value = classes.get(current, {}).get(attr)
            if value:
                return value
            seen.extend(parents.get(current, []))
        return None

    def is_error(name: str) -> bool:
        return inherited(name, "default_code") is not None

    found: dict[tuple[str, str, str | None], list[str]] = {}

    def add(code: str, msgid: str, plural: str | None, where: str) -> None:
        if user_facing_only and not is_user_facing(code):
            return
        found.setdefault((code, msgid, plural), []).append(where)

    for path, tree in trees.items():
        rel = str(path.relative_to(root.parent))
        names = {
            t.id: v.value
            for st in tree.body
            if isinstance(st, ast.Assign)
            for t in st.targets
            if isinstance(t, ast.Name)
            and isinstance(v := st.value, ast.Constant)
            and isinstance(v.value, str)
        }
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef) and is_error(node.name):
                code = inherited(node.name, "default_code")
                msg = inherited(node.name, "default_message")
                if code and msg and "default_message" in classes[node.name]:
                    add(code, msg, None, f"{rel}:{node.lineno}")
            if not isinstance(node, ast.Call):
                continue
            func = node.func.id if isinstance(node.func, ast.Name) else None
            keywords = {k.arg: k.value for k in node.keywords if k.arg}
            code = _const(node.args[0], names) if node.args else None
            if code is None and func and is_error(func):
                code = inherited(func, "default_code")
            if "message" in keywords:
                msg = _const(keywords["message"], names)
                plural = _const(keywords.get("message_plural"), names)
                if code and msg:
                    add(code, msg, plural, f"{rel}:{node.lineno}")
            elif func and is_error(func) and code and "." in code:
                msg = inherited(func, "default_message")
                if msg:
                    add(code, msg, None, f"{rel}:{node.lineno}")
    return sorted(
        (Message(c, m, p, tuple(w)) for (c, m, p), w in found.items()),
        key=lambda m: (m.context, m.msgid),
    )


def main() -> None:  # pragma: no cover - developer tool, exercised by hand
    from babel.messages.catalog import Catalog
    from babel.messages.pofile import read_po, write_po

    from backbeat.i18n._catalogs import LOCALES_DIR, SOURCE_LOCALE

    template = Catalog(project="backbeat", fuzzy=False)
    for m in extract():
        msgid: str | tuple[str, str] = (m.msgid, m.msgid_plural) if m.msgid_plural else m.msgid
        template.add(msgid, context=m.context, locations=[(loc, 0) for loc in m.locations])
    with open(LOCALES_DIR / "backbeat.pot", "wb") as f:
        write_po(f, template, sort_output=True, no_location=True, width=100)
    for po in sorted(LOCALES_DIR.glob("*.po")):
        with open(po, "rb") as f:
            catalog = read_po(f, locale=po.stem)
        catalog.update(template, no_fuzzy_matching=True)
        if po.stem == SOURCE_LOCALE:  # English translates to itself
            for message in catalog:
                if message.id and not any(
                    message.string if isinstance(message.string, tuple) else [message.string]
                ):
                    message.string = message.id
        with open(po, "wb") as f:
            write_po(
                f, catalog, sort_output=True, no_location=True, ignore_obsolete=True, width=100
            )


if __name__ == "__main__":  # pragma: no cover
    main()
