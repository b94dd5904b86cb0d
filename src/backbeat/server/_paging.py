"""Spotify's paging object, for every paged list the service answers."""

from __future__ import annotations

from typing import Any

__all__ = ["paging"]


def paging(
    request_path: str, items: list[Any], total: int, limit: int, offset: int
) -> dict[str, Any]:
    """Spotify's paging object for ``request_path`` (its other query parameters, if any,
    stay on every link)."""
    sep = "&" if "?" in request_path else "?"

    def page(at: int) -> str:
        return f"{request_path}{sep}limit={limit}&offset={at}"

    return {
        "href": page(offset),
        "items": items,
        "limit": limit,
        "offset": offset,
        "total": total,
        "next": page(offset + limit) if offset + limit < total else None,
        "previous": page(max(0, offset - limit)) if offset > 0 else None,
    }
