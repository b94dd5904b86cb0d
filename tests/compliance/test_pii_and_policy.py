"""Personal-data detection, retention periods and legal deadlines."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from backbeat.compliance import due_date, find_pii, parse_duration, redact, scan_frame
from backbeat.errors import ValidationError

TEXT = (
    "Write to jane.doe+music@example.co.uk or call +44 20 7946 0958. "
    "IBAN DE89 3704 0044 0532 0130 00, card 4111 1111 1111 1111, "
    "from 192.168.10.7 and 2001:db8::8a2e:370:7334; profile spotify:user:janedoe99 "
    "and https://open.spotify.com/user/otherfan."
)


def test_every_kind_is_found_with_its_span() -> None:
    found = find_pii(TEXT)
    kinds = [m.kind for m in found]
    assert kinds == ["email", "phone", "iban", "card", "ip", "ip", "spotify_user", "spotify_user"]
    for match in found:
        assert TEXT[match.start : match.end] == match.text
    assert found[0].text == "jane.doe+music@example.co.uk"
    assert found[2].text == "DE89 3704 0044 0532 0130 00"


@pytest.mark.parametrize(
    "text",
    [
        "card 4111 1111 1111 1112",  # fails Luhn
        "IBAN DE89 3704 0044 0532 0130 01",  # fails mod 97
        "version 1.2.3.4000 and 999.1.1.1",  # not addresses
        "order number 12345",  # not a phone number
        "call 555-0000",  # not a valid number
    ],
)
def test_look_alikes_are_not_reported(text: str) -> None:
    assert find_pii(text) == []


def test_redaction_and_columns() -> None:
    assert redact("mail a@b.io, ip 10.0.0.1") == "mail [EMAIL], ip [IP]"
    frame = pd.DataFrame(
        {
            "contact": ["a@b.io", "c@d.io", "none"],
            "note": ["paid by 4111111111111111", "", "ok"],
            "plays": ["1", "2", "3"],
        }
    )
    assert scan_frame(frame) == {"contact": {"email": 2}, "note": {"card": 1}}
    with pytest.raises(ValidationError) as info:
        find_pii("x", kinds=["passport"])
    assert info.value.code == "compliance.pii_kind"


def test_cli_scans_a_csv(tmp_path: Path) -> None:
    file = tmp_path / "users.csv"
    file.write_text("id,email,ip\n1,a@example.org,10.1.2.3\n2,b@example.org,\n")
    done = subprocess.run(
        [str(Path(sys.executable).with_name("backbeat")), "privacy", "scan", str(file), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["columns"] == {"email": {"email": 2}, "ip": {"ip": 1}}


@pytest.mark.parametrize(
    ("text", "before"),
    [
        ("90_days", dt.datetime(2025, 12, 31, tzinfo=dt.UTC)),
        ("7_years", dt.datetime(2019, 3, 31, tzinfo=dt.UTC)),
        ("1_month", dt.datetime(2026, 2, 28, tzinfo=dt.UTC)),  # 31 March -> end of February
        ("P1Y6M", dt.datetime(2024, 9, 30, tzinfo=dt.UTC)),
        ("P2W", dt.datetime(2026, 3, 17, tzinfo=dt.UTC)),
        ("PT12H", dt.datetime(2026, 3, 30, 12, tzinfo=dt.UTC)),
    ],
)
def test_retention_periods(text: str, before: dt.datetime) -> None:
    assert parse_duration(text).before(dt.datetime(2026, 3, 31, tzinfo=dt.UTC)) == before


@pytest.mark.parametrize("text", ["7 years", "P", "forever", "-3_days", "3_decades"])
def test_bad_retention_periods_are_named(text: str) -> None:
    with pytest.raises(ValidationError) as info:
        parse_duration(text)
    assert info.value.code == "compliance.duration"
    assert text[:10] in info.value.message


def test_legal_deadlines() -> None:
    received = dt.datetime(2026, 1, 31, 9, tzinfo=dt.UTC)
    assert due_date(received, "gdpr") == dt.datetime(2026, 2, 28, 9, tzinfo=dt.UTC)
    assert due_date(received, "gdpr", extended=True) == dt.datetime(2026, 4, 28, 9, tzinfo=dt.UTC)
    assert due_date(received, "ccpa") == received + dt.timedelta(days=45)
    assert due_date(received, "ccpa", extended=True) == received + dt.timedelta(days=90)
    with pytest.raises(ValidationError) as info:
        due_date(received, "lgpd")
    assert info.value.code == "privacy.jurisdiction"


def test_log_lines_lose_personal_data_and_user_paths() -> None:
    import logging

    from backbeat.cli._logging import RedactUserPaths

    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("10.0.0.9:5123", "GET", "/v1/users/ann-7/top/tracks", "1.1", 200),
        None,
    )
    assert RedactUserPaths().filter(record)
    assert record.getMessage() == '10.0.0.9:5123 - "GET /v1/users/{user}/top/tracks HTTP/1.1" 200'
    mail = logging.LogRecord(
        "app",
        logging.INFO,
        __file__,
        1,
        "refund for %s, card %s",
        ("ann@example.org", "4111111111111111"),
        None,
    )
    RedactUserPaths().filter(mail)
    assert mail.getMessage() == "refund for [EMAIL], card [CARD]"


@pytest.mark.anyio
@pytest.mark.parametrize(("declared", "sweeps"), [("", 0), ("consents=P3Y", 1)])
async def test_the_service_sweeps_only_declared_retention(declared: str, sweeps: int) -> None:
    import asyncio
    from types import SimpleNamespace

    from backbeat.server._privacy import privacy_maintenance

    calls: list[str] = []

    class Compliance:
        async def list_requests(self, **_: object) -> list[object]:
            return []

        async def retention_sweep(self) -> dict[str, int]:
            calls.append("sweep")
            return {}

    gauges: list[tuple[int, int]] = []
    metrics = SimpleNamespace(set_privacy_requests=lambda **k: gauges.append(tuple(k.values())))
    services = SimpleNamespace(
        toolkit=SimpleNamespace(
            compliance=Compliance(), settings=SimpleNamespace(retention=declared)
        )
    )
    task = asyncio.create_task(privacy_maintenance(services, metrics, period_s=0.01))
    await asyncio.sleep(0.1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(calls) == sweeps  # once a day at most, and only when declared
    assert gauges
    assert gauges[0] == (0, 0)
