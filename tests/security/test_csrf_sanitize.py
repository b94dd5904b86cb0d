from __future__ import annotations

import html
import os
import re
from html.parser import HTMLParser

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from backbeat.security import (
    CsrfError,
    CSRFMiddleware,
    CsrfTokens,
    SecurityUtils,
    sanitize_data,
    sanitize_html,
)
from backbeat.security._keyring import b64url_decode, b64url_encode

SECRET = os.urandom(32)


class Clock:
    now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_csrf_token_is_bound_to_its_session_and_expires() -> None:
    clock = Clock()
    tokens = CsrfTokens(SECRET, max_age=3600, clock=clock)
    t = tokens.issue("session-a")
    tokens.verify(t, "session-a")
    with pytest.raises(CsrfError):
        tokens.verify(t, "session-b")
    with pytest.raises(CsrfError):
        CsrfTokens(os.urandom(32), clock=clock).verify(t, "session-a")
    clock.now += 3601
    with pytest.raises(CsrfError):
        tokens.verify(t, "session-a")


@pytest.mark.parametrize("bad", [None, "", "a.b", "a.b.c", "x" * 50])
def test_malformed_csrf_tokens(bad: str | None) -> None:
    with pytest.raises(CsrfError):
        CsrfTokens(SECRET).verify(bad, "s")


def test_tampered_csrf_token() -> None:
    tokens = CsrfTokens(SECRET)
    t = tokens.issue("s")
    issued, nonce, mac = t.split(".")
    raw = bytearray(b64url_decode(nonce))
    raw[0] ^= 1  # change the decoded bytes, not a base64 padding bit
    with pytest.raises(CsrfError):
        tokens.verify(f"{issued}.{b64url_encode(bytes(raw))}.{mac}", "s")


def _app() -> tuple[TestClient, CsrfTokens]:
    tokens = CsrfTokens(SECRET)
    app = FastAPI()

    @app.post("/playlists")
    async def create() -> dict[str, bool]:
        return {"created": True}

    @app.get("/playlists")
    async def read() -> dict[str, bool]:
        return {"ok": True}

    app.add_middleware(CSRFMiddleware, tokens=tokens)
    return TestClient(app), tokens


def test_middleware_enforces_double_submit_on_unsafe_methods() -> None:
    client, tokens = _app()
    token = tokens.issue("sess-1")
    client.cookies.set("session", "sess-1")
    assert client.get("/playlists").status_code == 200
    refused = client.post("/playlists")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "security.csrf"
    client.cookies.set("csrf_token", token)
    assert client.post("/playlists", headers={"X-CSRF-Token": "other"}).status_code == 403
    ok = client.post("/playlists", headers={"X-CSRF-Token": token})
    assert ok.status_code == 200
    # A token minted for another session is refused even when double-submitted.
    other = tokens.issue("sess-2")
    client.cookies.set("csrf_token", other)
    assert client.post("/playlists", headers={"X-CSRF-Token": other}).status_code == 403


def test_requests_without_a_session_cookie_pass() -> None:
    client, _ = _app()
    assert client.post("/playlists").status_code == 200


# -- sanitising -------------------------------------------------------------------------

# From the OWASP XSS Filter Evasion Cheat Sheet (and the classic RSnake list it grew from).
XSS_VECTORS = [
    "<SCRIPT SRC=https://cdn.jsdelivr.net/gh/Moksh45/host-xss.rocks/index.js></SCRIPT>",
    "javascript:/*--></title></style></textarea></script></xmp><svg/onload='+/\"/+/onmouseover=1/+/[*/[]/+alert(1)//'>",
    "<IMG SRC=\"javascript:alert('XSS');\">",
    "<IMG SRC=javascript:alert('XSS')>",
    "<IMG SRC=JaVaScRiPt:alert('XSS')>",
    "<IMG SRC=javascript:alert(&quot;XSS&quot;)>",
    "<IMG SRC=`javascript:alert(\"RSnake says, 'XSS'\")`>",
    '<a onmouseover="alert(document.cookie)">xxs link</a>',
    "<a onmouseover=alert(document.cookie)>xxs link</a>",
    '<IMG """><SCRIPT>alert("XSS")</SCRIPT>"\\>',
    "<IMG SRC=javascript:alert(String.fromCharCode(88,83,83))>",
    "<IMG SRC=# onmouseover=\"alert('xxs')\">",
    "<IMG SRC= onmouseover=\"alert('xxs')\">",
    "<IMG onmouseover=\"alert('xxs')\">",
    '<IMG SRC=/ onerror="alert(String.fromCharCode(88,83,83))"></img>',
    '<img src=x onerror="&#0000106&#0000097&#0000118&#0000097&#0000115&#0000099&#0000114&#0000105&#0000112&#0000116&#0000058&#0000097&#0000108&#0000101&#0000114&#0000116&#0000040&#0000039&#0000088&#0000083&#0000083&#0000039&#0000041">',
    "<IMG SRC=&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;&#97;&#108;&#101;&#114;&#116;&#40;&#39;&#88;&#83;&#83;&#39;&#41;>",
    "<IMG SRC=&#0000106&#0000097&#0000118&#0000097&#0000115&#0000099&#0000114&#0000105&#0000112&#0000116&#0000058&#0000097&#0000108&#0000101&#0000114&#0000116&#0000040&#0000039&#0000088&#0000083&#0000083&#0000039&#0000041>",
    "<IMG SRC=&#x6A&#x61&#x76&#x61&#x73&#x63&#x72&#x69&#x70&#x74&#x3A&#x61&#x6C&#x65&#x72&#x74&#x28&#x27&#x58&#x53&#x53&#x27&#x29>",
    "<IMG SRC=\"jav\tascript:alert('XSS');\">",
    "<IMG SRC=\"jav&#x09;ascript:alert('XSS');\">",
    "<IMG SRC=\"jav&#x0A;ascript:alert('XSS');\">",
    "<IMG SRC=\"jav&#x0D;ascript:alert('XSS');\">",
    "<IMG SRC=\" &#14;  javascript:alert('XSS');\">",
    '<SCRIPT/XSS SRC="http://xss.rocks/xss.js"></SCRIPT>',
    '<BODY onload!#$%&()*~+-_.,:;?@[/|\\]^`=alert("XSS")>',
    '<SCRIPT/SRC="http://xss.rocks/xss.js"></SCRIPT>',
    '<<SCRIPT>alert("XSS");//\\<</SCRIPT>',
    "<SCRIPT SRC=http://xss.rocks/xss.js?< B >",
    "<SCRIPT SRC=//xss.rocks/.j>",
    "<IMG SRC=\"`('XSS')\"",
    "<iframe src=http://xss.rocks/scriptlet.html <",
    '</TITLE><SCRIPT>alert("XSS");</SCRIPT>',
    '<INPUT TYPE="IMAGE" SRC="javascript:alert(\'XSS\');">',
    "<BODY BACKGROUND=\"javascript:alert('XSS')\">",
    "<IMG DYNSRC=\"javascript:alert('XSS')\">",
    "<IMG LOWSRC=\"javascript:alert('XSS')\">",
    "<STYLE>li {list-style-image: url(\"javascript:alert('XSS')\");}</STYLE><UL><LI>XSS</br>",
    "<IMG SRC='vbscript:msgbox(\"XSS\")'>",
    "<svg/onload=alert('XSS')>",
    "<BODY ONLOAD=alert('XSS')>",
    "<BGSOUND SRC=\"javascript:alert('XSS');\">",
    "<BR SIZE=\"&{alert('XSS')}\">",
    '<LINK REL="stylesheet" HREF="javascript:alert(\'XSS\');">',
    "<STYLE>@import'http://xss.rocks/xss.css';</STYLE>",
    '<META HTTP-EQUIV="refresh" CONTENT="0;url=javascript:alert(\'XSS\');">',
    "<IFRAME SRC=\"javascript:alert('XSS');\"></IFRAME>",
    "<FRAMESET><FRAME SRC=\"javascript:alert('XSS');\"></FRAMESET>",
    "<TABLE BACKGROUND=\"javascript:alert('XSS')\">",
    "<TD BACKGROUND=\"javascript:alert('XSS')\">",
    "<DIV STYLE=\"background-image: url(javascript:alert('XSS'))\">",
    "<DIV STYLE=\"width: expression(alert('XSS'));\">",
    "<IMG STYLE=\"xss:expr/*XSS*/ession(alert('XSS'))\">",
    "<BASE HREF=\"javascript:alert('XSS');//\">",
    '<OBJECT TYPE="text/x-scriptlet" DATA="http://xss.rocks/scriptlet.html"></OBJECT>',
    '<EMBED SRC="data:image/svg+xml;base64,PHN2ZyB4bWxuczpzdmc9Imh0dH A6Ly93d3cudzMub3JnLzIwMDAvc3ZnIiB4bWxucz0iaHR0cDovL3d3dy53My5vcmcv MjAwMC9zdmciIHhtbG5zOnhsaW5rPSJodHRwOi8vd3d3LnczLm9yZy8xOTk5L3hs aW5rIiB2ZXJzaW9uPSIxLjAiIHg9IjAiIHk9IjAiIHdpZHRoPSIxOTQiIGhlaWdodD0iMjAw IiBpZD0ieHNzIj48c2NyaXB0IHR5cGU9InRleHQvZWNtYXNjcmlwdCI+YWxlcnQoIlh TUyIpOzwvc2NyaXB0Pjwvc3ZnPg==" type="image/svg+xml" AllowScriptAccess="always"></EMBED>',
    '<a href="javascript&colon;alert(1)">click</a>',
    '<a href="jav&#x09;ascript:alert(1)">click</a>',
    '<a href="  javascript:alert(1)">click</a>',
    '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">click</a>',
    '<math><a xlink:href="javascript:alert(1)">click</a></math>',
    "<details open ontoggle=alert(1)>",
    '<video><source onerror="alert(1)"></video>',
    "<img src=x:alert(alt) onerror=eval(src) alt=0>",
    '<form action="javascript:alert(1)"><button>go</button></form>',
    "<isindex type=image src=1 onerror=alert(1)>",
    '<xss style="behavior: url(xss.htc);">',
    '<noscript><p title="</noscript><img src=x onerror=alert(1)>">',
]

_FORBIDDEN_TAGS = {
    "script",
    "style",
    "iframe",
    "frame",
    "frameset",
    "object",
    "embed",
    "base",
    "meta",
    "link",
    "svg",
    "math",
    "form",
    "input",
    "body",
}
_BAD_SCHEME = re.compile(r"^(javascript|vbscript|data|livescript):", re.I)


class _Audit(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _FORBIDDEN_TAGS:
            self.problems.append(f"tag {tag}")
        for name, value in attrs:
            if name.startswith("on") or name == "style":
                self.problems.append(f"attribute {name}")
            url = re.sub(r"[\x00-\x20]", "", html.unescape(value or ""))
            if _BAD_SCHEME.match(url):
                self.problems.append(f"url {name}={value}")


def assert_inert(cleaned: str) -> None:
    assert "<script" not in cleaned.lower()
    audit = _Audit()
    audit.feed(cleaned)
    audit.close()
    assert audit.problems == [], cleaned


def test_there_are_at_least_50_vectors() -> None:
    assert len(XSS_VECTORS) >= 50


@pytest.mark.parametrize("vector", XSS_VECTORS)
def test_xss_vectors_come_out_inert(vector: str) -> None:
    assert_inert(sanitize_html(vector))
    cleaned = sanitize_data({"description": vector})["description"]
    assert_inert(cleaned)
    assert "<" not in cleaned  # as data, no markup at all survives


def test_allowed_markup_survives_and_links_are_safe() -> None:
    out = sanitize_html('<p>Hi <b>there</b> <a href="https://open.spotify.com/x">link</a></p>')
    assert out == (
        '<p>Hi <b>there</b> <a href="https://open.spotify.com/x" rel="noopener noreferrer">'
        "link</a></p>"
    )


def test_custom_allowlist_cannot_reenable_handlers() -> None:
    out = sanitize_html(
        '<span onclick="x()" style="color:red" class="c">t</span>',
        tags={"span"},
        attributes={"span": {"onclick", "style", "class"}},
    )
    assert out == '<span class="c">t</span>'


def test_sanitize_data_walks_structures_without_mutating() -> None:
    data = {"name": "<b>Ana</b>", "tags": ["<i>x</i>", 3], "nested": {"bio": "a\x00b"}, "n": None}
    out = sanitize_data(data)
    assert out == {"name": "Ana", "tags": ["x", 3], "nested": {"bio": "ab"}, "n": None}
    assert data["name"] == "<b>Ana</b>"
    assert SecurityUtils.sanitize_data(data) == out
    assert sanitize_data({"d": "<b>ok</b><script>x</script>"}, allow_html=True) == {
        "d": "<b>ok</b>"
    }
