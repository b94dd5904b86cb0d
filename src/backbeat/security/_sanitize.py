"""HTML sanitising with nh3 (bindings to the Rust ``ammonia`` crate).

``sanitize_html`` keeps an allowlist of tags and attributes and drops everything
else, including every ``on*`` handler, ``<script>``/``<style>`` with their
content, and URLs whose scheme is not allowed (``javascript:``, ``vbscript:``,
``data:``...), after entity decoding: the browser-side parser's view, not a
regex's. ``sanitize_data`` walks JSON-like data and cleans every string, so user
input can be stored and rendered without a script execution path.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import nh3

__all__ = ["DEFAULT_TAGS", "DEFAULT_URL_SCHEMES", "sanitize_data", "sanitize_html"]

#: Formatting and structure a playlist description or a bio may use.
DEFAULT_TAGS = frozenset(
    {
        "a",
        "abbr",
        "b",
        "blockquote",
        "br",
        "code",
        "em",
        "h1",
        "h2",
        "h3",
        "h4",
        "hr",
        "i",
        "li",
        "ol",
        "p",
        "pre",
        "s",
        "small",
        "span",
        "strong",
        "sub",
        "sup",
        "u",
        "ul",
    }
)
DEFAULT_ATTRIBUTES: Mapping[str, frozenset[str]] = {
    "a": frozenset({"href", "title"}),
    "abbr": frozenset({"title"}),
}
DEFAULT_URL_SCHEMES = frozenset({"http", "https", "mailto"})
_CONTROL = {c: None for c in range(32) if chr(c) not in "\t\n\r"} | {0x7F: None}


def sanitize_html(
    html: str,
    *,
    tags: Iterable[str] | None = None,
    attributes: Mapping[str, Iterable[str]] | None = None,
    url_schemes: Iterable[str] | None = None,
    strip_comments: bool = True,
) -> str:
    """Clean ``html`` down to an allowlist; links get ``rel="noopener noreferrer"``.

    ``tags``/``attributes``/``url_schemes`` replace the defaults
    (:data:`DEFAULT_TAGS`, ``href``/``title`` on links, ``http``/``https``/``mailto``).
    Event handlers and ``style`` are never allowed, whatever is passed: they are
    script execution paths.
    """
    allowed_tags = set(DEFAULT_TAGS if tags is None else tags)
    allowed_attrs = {
        tag: {a for a in attrs if not a.lower().startswith("on") and a.lower() != "style"}
        for tag, attrs in (DEFAULT_ATTRIBUTES if attributes is None else attributes).items()
    }
    return nh3.clean(
        html.translate(_CONTROL),
        tags=allowed_tags,
        attributes=allowed_attrs,
        url_schemes=set(DEFAULT_URL_SCHEMES if url_schemes is None else url_schemes),
        strip_comments=strip_comments,
        link_rel="noopener noreferrer",
    )


def sanitize_data(data: Any, *, allow_html: bool = False) -> Any:
    """A copy of ``data`` with every string cleaned; keys and non-strings unchanged.

    By default strings become safe text: tags are removed (``<script>`` and
    ``<style>`` with their content), ``<``, ``>``, ``&`` and quotes are escaped as
    entities, and control characters other than tab/newline are dropped. With
    ``allow_html=True`` strings go through :func:`sanitize_html` instead.
    """
    if isinstance(data, str):
        if allow_html:
            return sanitize_html(data)
        return nh3.clean(data.translate(_CONTROL), tags=set(), attributes={})
    if isinstance(data, Mapping):
        return {k: sanitize_data(v, allow_html=allow_html) for k, v in data.items()}
    if isinstance(data, list):
        return [sanitize_data(v, allow_html=allow_html) for v in data]
    if isinstance(data, tuple):
        return tuple(sanitize_data(v, allow_html=allow_html) for v in data)
    return data
