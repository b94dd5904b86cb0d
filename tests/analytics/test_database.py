"""The service database as an analytics source: billing events through the service, files
imported by the CLI, and the same KPIs as from the files on SQLite and PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import anyio
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from backbeat.analytics import (
    AnalyticsInputError,
    compute_kpis,
    database_rows,
    generate,
    load_frames,
    open_any,
    open_database,
    open_source,
    parse_period,
)
from backbeat.catalogue import BillingEvent, BillingRepository, EventRepository
from backbeat.errors import BackbeatError
from backbeat.server import create_app
from backbeat.settings import Settings
from backbeat.storage import create_engine, upgrade
from tests.conftest import DATABASE_URL
from tests.server.test_catalogue import _key

PERIOD = "2025-02-01..2025-03-31"
TRACK = "4uLU6hMCjMI75M1A2tKUQC"


def _flat(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(_flat(v, f"{prefix}/{k}"))
        return out
    if isinstance(value, list):
        return {f"{prefix}[{i}]": v for i, v in enumerate(value)}
    return {prefix: value}


def _same(a: dict[str, Any], b: dict[str, Any]) -> None:
    fa, fb = _flat(a), _flat(b)
    assert fa.keys() == fb.keys()
    for key, value in fa.items():
        if isinstance(value, float):
            assert fb[key] == pytest.approx(value, rel=1e-9, abs=1e-9), key
        else:
            assert fb[key] == value, key


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("analytics-db")
    generate(300, 90, 5, folder)
    return folder


async def _fill(engine: Any, folder: Path) -> None:
    rows = database_rows(load_frames(folder))
    await BillingRepository(engine).import_rows(rows["subscriptions"], rows["payments"])
    await EventRepository(engine).add(rows["events"])


def test_kpis_from_sqlite_equal_those_from_the_files(data: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'service.db'}"

    async def setup() -> None:
        engine = create_engine(url)
        await upgrade(engine)
        await _fill(engine, data)
        await engine.dispose()

    anyio.run(setup)
    period = parse_period(PERIOD)
    from_db = compute_kpis(open_any(url), period).to_dict()
    from_files = compute_kpis(open_source(data), period).to_dict()
    _same(from_files, from_db)
    assert from_db["currency"] == "EUR"
    assert sum(from_db["mrr"].values()) > 0


def test_kpis_on_postgresql_views_equal_those_from_the_files(data: Path, postgres_url: str) -> None:
    schema = f"bbtest_{uuid.uuid4().hex[:12]}"

    async def setup() -> None:
        admin = create_engine(DATABASE_URL)
        async with admin.begin() as conn:
            await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        await admin.dispose()
        engine = create_engine(DATABASE_URL, schema=schema)
        await upgrade(engine)
        await _fill(engine, data)
        await engine.dispose()

    async def teardown() -> None:
        admin = create_engine(DATABASE_URL)
        async with admin.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        await admin.dispose()

    anyio.run(setup)
    try:
        source = open_database(postgres_url, schema=schema)
        source.refresh()
        period = parse_period(PERIOD)
        _same(
            compute_kpis(open_source(data), period).to_dict(),
            compute_kpis(source, period).to_dict(),
        )
        source.backend.disconnect()
    finally:
        anyio.run(teardown)


def test_an_empty_or_unmigrated_database_is_named(tmp_path: Path) -> None:
    bare = tmp_path / "bare.db"
    bare.write_bytes(b"")
    with pytest.raises(AnalyticsInputError, match="not an up-to-date backbeat database"):
        open_any(f"sqlite:///{bare}")
    url = f"sqlite:///{tmp_path / 'empty.db'}"

    async def setup() -> None:
        engine = create_engine(url)
        await upgrade(engine)
        await engine.dispose()

    anyio.run(setup)
    with pytest.raises(AnalyticsInputError, match="no listening events recorded yet"):
        open_any(url)


def test_billing_rules_and_idempotency(tmp_path: Path) -> None:
    async def run() -> None:
        engine = create_engine(f"sqlite:///{tmp_path / 'b.db'}")
        await upgrade(engine)
        billing = BillingRepository(engine)
        from decimal import Decimal

        sub = BillingEvent("subscribe", "u1", 1000.0, "premium", Decimal("9.99"), "EUR")
        first = await billing.apply("k1", sub)
        assert not first.replayed
        assert first.result["payment"]["amount"] == "9.99"
        again = await billing.apply("k1", sub)
        assert again.replayed
        assert again.result == first.result
        counts = await billing.counts()
        assert counts == {"subscriptions": 1, "active_subscriptions": 1, "payments": 1}
        other = BillingEvent("cancel", "u1", 2000.0)
        with pytest.raises(BackbeatError, match="already used") as info:
            await billing.apply("k1", other)
        assert getattr(info.value, "code", "") == "billing.idempotency_conflict"
        upgrade_ = BillingEvent("subscribe", "u1", 1500.0, "family", Decimal("14.99"), "EUR")
        moved = await billing.apply("k2", upgrade_)
        assert moved.result["ended_subscription"] == first.result["subscription"]["id"]
        assert (await billing.counts())["active_subscriptions"] == 1
        await billing.apply("k3", BillingEvent("cancel", "u1", 3000.0))
        with pytest.raises(BackbeatError, match="no active subscription") as info:
            await billing.apply("k4", BillingEvent("renew", "u1", 4000.0))
        assert getattr(info.value, "code", "") == "billing.no_active_subscription"
        too_much = BillingEvent("refund", "u1", 5000.0, currency="EUR", amount=Decimal("30"))
        with pytest.raises(BackbeatError, match=r"exceeds the 24\.98") as info:
            await billing.apply("k5", too_much)
        assert getattr(info.value, "code", "") == "billing.refund_exceeds"
        dollars = BillingEvent("subscribe", "u2", 1000.0, "premium", Decimal("9.99"), "USD")
        with pytest.raises(BackbeatError, match="Currency USD differs") as info:
            await billing.apply("k6", dollars)
        assert getattr(info.value, "code", "") == "billing.currency_mixed"
        # a refused event leaves no trace: its key can carry the corrected event
        fixed = BillingEvent("refund", "u1", 5000.0, currency="EUR", amount=Decimal("4.99"))
        assert not (await billing.apply("k5", fixed)).replayed
        await engine.dispose()

    anyio.run(run)


def test_billing_events_through_the_service_reach_the_kpis(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    biller = {"Authorization": f"Bearer {_key(tmp_path, monkeypatch, 'billing')}"}
    writer = {"Authorization": f"Bearer {_key(tmp_path, monkeypatch, 'write')}"}
    admin = {"Authorization": f"Bearer {_key(tmp_path, monkeypatch, 'admin')}"}
    settings = Settings.from_env({"BACKBEAT_DATA_DIR": str(tmp_path)})
    with TestClient(create_app(settings)) as client:
        events = [
            {"user": user, "track": TRACK, "timestamp": f"2026-03-{day:02d}T12:00:00Z"}
            for user in ("alice", "bob", "carol")
            for day in range(1, 29)
        ]
        assert client.post("/v1/events", json={"events": events}, headers=writer).status_code == 202

        def post(key: str | None, body: dict[str, Any], who: dict[str, str] = biller) -> Any:
            headers = {**who, **({"Idempotency-Key": key} if key else {})}
            return client.post("/v1/billing/events", json=body, headers=headers)

        subscribe = {
            "type": "subscribe",
            "user": "alice",
            "plan": "premium",
            "price": "9.99",
            "currency": "EUR",
            "at": "2026-03-02T09:00:00Z",
        }
        assert post("a-1", subscribe, writer).status_code == 403
        created = post("a-1", subscribe)
        assert created.status_code == 201, created.text
        replay = post("a-1", subscribe)
        assert replay.status_code == 200
        assert replay.headers["Idempotent-Replayed"] == "true"
        assert replay.json() == created.json()
        conflict = post("a-1", {**subscribe, "price": "19.99"})
        assert conflict.status_code == 409
        assert conflict.json()["error"]["code"] == "billing.idempotency_conflict"
        missing = post(None, subscribe)
        assert missing.status_code == 400
        assert missing.json()["error"]["code"] == "billing.idempotency_key_missing"
        assert "Idempotency-Key" in missing.json()["error"]["message"]
        bob = {**subscribe, "user": "bob", "at": "2026-03-05T09:00:00Z"}
        assert post("b-1", bob).status_code == 201
        cancel = {"type": "cancel", "user": "bob", "at": "2026-03-20T09:00:00Z"}
        assert post("b-2", cancel).status_code == 201
        refund = {"type": "refund", "user": "bob", "amount": "2.50", "currency": "EUR"}
        assert post("b-3", {**refund, "at": "2026-03-21T09:00:00Z"}).status_code == 201
        renew = {"type": "renew", "user": "bob", "at": "2026-03-25T09:00:00Z"}
        refused = post("b-4", renew)
        assert refused.status_code == 409
        assert refused.json()["error"]["code"] == "billing.no_active_subscription"
        negative = post("b-5", {**refund, "amount": "-1"})
        assert negative.status_code in (400, 422)

        kpis = client.get("/v1/analytics/kpis?period=2026-03-01..2026-03-28", headers=admin)
        assert kpis.status_code == 200, kpis.text
        body = kpis.json()
        assert body["revenue"] == pytest.approx(9.99 + 9.99 - 2.50)
        assert body["currency"] == "EUR"
        assert set(body["dau"].values()) == {3}
        # a new event is seen by the next call (the embedded snapshot is refreshed)
        carol = {**subscribe, "user": "carol", "at": "2026-03-10T09:00:00Z"}
        assert post("c-1", carol).status_code == 201
        again = client.get("/v1/analytics/kpis?period=2026-03-01..2026-03-28", headers=admin)
        assert again.json()["revenue"] == pytest.approx(9.99 * 3 - 2.50)


def test_cli_imports_files_then_reads_the_database(data: Path, tmp_path: Path) -> None:
    env = {"BACKBEAT_DATA_DIR": str(tmp_path / "var"), "PATH": "/usr/bin:/bin"}
    cli = [str(Path(sys.executable).with_name("backbeat"))]
    done = subprocess.run(
        [*cli, "analytics", "import", "--source", str(data)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "imported" in done.stdout
    shown = subprocess.run(
        [*cli, "analytics", "kpis", "--source", "database", "--period", PERIOD, "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert shown.returncode == 0, shown.stderr
    import json

    _same(compute_kpis(open_source(data), parse_period(PERIOD)).to_dict(), json.loads(shown.stdout))
