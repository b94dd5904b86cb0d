"""The web console at ``/console``: static files of our own, served by the service.

Sources live in ``server/console/`` (plain HTML, CSS and ES modules: no build step, no
third-party code committed). The one third-party asset, hls.js for HLS playback in
browsers without native HLS, is installed from the npm registry by the Makefile under
``BACKBEAT_CONSOLE_VENDOR`` (default ``<data dir>/node/node_modules``) and served from
there as ``/console/vendor/hls.min.js``; without it the console plays the original file.

Every answer carries a strict Content-Security-Policy (scripts, styles and connections
to this origin only; nothing framed), so the page cannot load anything from a CDN. The
console signs in with an API key kept in ``sessionStorage`` and sent as a header: the
API still accepts no cookie, so it keeps its no-CSRF property.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response

from backbeat.errors import NotFound
from backbeat.i18n import text_direction
from backbeat.server._deps import SettingsDep
from backbeat.spotify import AUDIO_FEATURE_RANGES, TUNABLE

__all__ = ["CONSOLE_DIR", "router"]

CONSOLE_DIR = Path(__file__).parent / "console"
_ASSET = re.compile(
    r"^(?:[a-z][a-z0-9_-]{0,40}\.(?:html|js|css|svg)|locales/[a-zA-Z_]{2,8}\.json)$"
)
_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".json": "application/json",
}
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
        "media-src 'self' blob:; worker-src 'self' blob:; connect-src 'self'; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}
#: Slider ends where the documented range is not a useful slider (24 h of duration).
SLIDER_RANGES = {"duration_ms": (0, 900_000), "popularity": (0, 100)}
HLS_JS = Path("hls.js") / "dist" / "hls.min.js"

router = APIRouter(prefix="/console", include_in_schema=False)


def _missing(name: str) -> NotFound:
    return NotFound(details={"name": name[:80]})


def _locales() -> list[dict[str, str]]:
    names = sorted(p.stem for p in (CONSOLE_DIR / "locales").glob("*.json"))
    return [{"code": n, "tag": n.replace("_", "-"), "dir": text_direction(n)} for n in names]


def vendor_file(settings: Any) -> Path | None:
    """hls.js where the Makefile installed it, if it did."""
    root: Path = settings.console_vendor or (settings.data_dir / "node" / "node_modules")
    path = root / HLS_JS
    return path if path.is_file() else None


@router.get("")
async def console_root() -> Response:
    return RedirectResponse("/console/", status_code=307)


@router.get("/")
async def console_index() -> Response:
    return FileResponse(CONSOLE_DIR / "index.html", headers=HEADERS, media_type=_TYPES[".html"])


@router.get("/meta.json")
async def console_meta(settings: SettingsDep) -> JSONResponse:
    """What the console cannot know by itself: locales and their direction, the tunable
    attributes with their ranges, whether hls.js is there."""
    ranges = {**AUDIO_FEATURE_RANGES, **SLIDER_RANGES}
    tunable = [{"name": n, "min": ranges[n][0], "max": ranges[n][1]} for n in TUNABLE]
    body = {
        "locales": _locales(),
        "tunable": tunable,
        "hls_js": vendor_file(settings) is not None,
    }
    return JSONResponse(body, headers=HEADERS)


@router.get("/vendor/hls.min.js")
async def console_hls(settings: SettingsDep) -> Response:
    path = vendor_file(settings)
    if path is None:
        raise _missing("vendor/hls.min.js")
    return FileResponse(path, headers=HEADERS, media_type=_TYPES[".js"])


@router.get("/{name:path}")
async def console_asset(name: str, request: Request) -> Response:
    if not _ASSET.match(name):
        raise _missing(name)
    path = CONSOLE_DIR / name
    if not path.is_file():
        raise _missing(name)
    return FileResponse(path, headers=HEADERS, media_type=_TYPES[path.suffix])
