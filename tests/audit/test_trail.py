from __future__ import annotations

import asyncio
import io
import json
import threading
from typing import Any

import anyio
import anyio.to_thread
import pytest
from sqlalchemy import text

from backbeat.audit import (
    AuditEvent,
    AuditStore,
    AuditTrail,
    JsonLogSink,
    audit_context,
    audit_trail,
    audited,
)
from backbeat.errors import NotFound
from backbeat.storage import current_revision

pytestmark = pytest.mark.anyio


async def test_migrations_run_from_empty_and_are_idempotent(store: AuditStore) -> None:
    from backbeat.storage import upgrade

    assert await current_revision(store.engine) == "0012_playback"
    await upgrade(store.engine)
    async with store.engine.connect() as conn:
        names = await conn.run_sync(lambda c: __import__("sqlalchemy").inspect(c).get_table_names())
    assert {"audit_events", "audit_chain_heads", "audit_checkpoints"} <= set(names)


async def test_success_and_failure_are_recorded_without_changing_the_function(
    trail: AuditTrail,
) -> None:
    @audited(action="fetch_track", resource="track:{track_id}", trail=trail)
    async def fetch(track_id: str) -> dict[str, str]:
        if track_id == "missing":
            raise NotFound("not_found.track")
        return {"id": track_id}

    with audit_context(actor="user-1", request_id="req-9", client_ip="10.0.0.1"):
        assert await fetch("abc") == {"id": "abc"}
        with pytest.raises(NotFound) as info:
            await fetch("missing")
    assert info.value.code == "not_found.track"
    ok, failed = await trail.query(action="fetch_track")
    assert (ok.outcome, ok.resource, ok.actor, ok.request_id, ok.client_ip) == (
        "success",
        "track:abc",
        "user-1",
        "req-9",
        "10.0.0.1",
    )
    assert ok.details_dict == {"args": {"track_id": "abc"}, "result": {"id": "abc"}}
    assert ok.duration_ms is not None
    assert (failed.outcome, failed.error_code) == ("failure", "not_found.track")
    assert "Traceback" not in failed.details
    assert "result" not in failed.details_dict


async def test_plain_exceptions_record_their_class_name(trail: AuditTrail) -> None:
    @audit_trail(action="boom", trail=trail)  # the seed's name
    async def boom() -> None:
        raise ZeroDivisionError("secret detail")

    with pytest.raises(ZeroDivisionError):
        await boom()
    (event,) = await trail.query(action="boom")
    assert event.error_code == "ZeroDivisionError"
    assert "secret detail" not in json.dumps(event.to_dict())


async def test_sensitive_stores_no_arguments_or_result(trail: AuditTrail) -> None:
    @audited(action="login", sensitive=True, trail=trail)
    async def login(user: str, pin: str) -> str:
        return "session-token-xyz"

    await login("ana", "1234")
    (event,) = await trail.query(action="login")
    assert event.details_dict == {}
    assert "1234" not in event.details
    assert "session-token-xyz" not in event.details


async def test_redaction_at_depth_through_the_decorator(trail: AuditTrail) -> None:
    @audited(action="save", trail=trail)
    async def save(payload: dict[str, Any]) -> None:
        return None

    await save({"profile": {"settings": [{"api_key": "k-123", "theme": "dark"}]}})
    (event,) = await trail.query(action="save")
    assert "k-123" not in event.details
    assert event.details_dict["args"]["payload"]["profile"]["settings"][0] == {
        "api_key": "[REDACTED]",
        "theme": "dark",
    }


async def test_thousand_events_from_50_concurrent_tasks_form_one_chain(
    trail: AuditTrail,
) -> None:
    @audited(action="play", trail=trail)
    async def play(i: int) -> int:
        await asyncio.sleep(0)
        return i

    async def task(t: int) -> None:
        for i in range(20):
            await play(t * 100 + i)

    await asyncio.gather(*(task(t) for t in range(50)))
    report = await trail.verify()
    assert report.ok, report.describe()
    assert report.events == 1000


async def test_buffered_mode_flush_and_close_lose_nothing(store: AuditStore) -> None:
    trail = AuditTrail(store, mode="buffered", max_queue=50, batch_size=20, flush_interval=10)

    @audited(action="tick", trail=trail)
    async def tick(i: int) -> int:
        return i

    for i in range(120):  # more than max_queue: back-pressure, not loss
        await tick(i)
    await trail.flush()
    assert trail.pending == 0
    assert len(await trail.query(action="tick", limit=None)) == 120
    for i in range(30):
        await tick(i)
    await trail.aclose()
    assert len(await store.query(action="tick", limit=None)) == 150
    assert (await trail.verify()).ok


async def test_sync_functions_are_recorded_from_any_thread(trail: AuditTrail) -> None:
    await trail.start()

    @audited(action="sync_op", trail=trail)
    def op(x: int) -> int:
        return x * 2

    assert op(1) == 2
    assert await anyio.to_thread.run_sync(op, 2) == 4
    done = threading.Event()

    def in_thread() -> None:
        op(3)
        done.set()

    threading.Thread(target=in_thread).start()
    await anyio.to_thread.run_sync(done.wait)
    await trail.flush()
    results = sorted(e.details_dict["result"] for e in await trail.query(action="sync_op"))
    assert results == [2, 4, 6]


async def test_disabled_trail_records_nothing(store: AuditStore) -> None:
    trail = AuditTrail(store, enabled=False)

    @audited(action="quiet", trail=trail)
    async def quiet() -> int:
        return 7

    assert await quiet() == 7
    assert await store.query(action="quiet") == []


async def test_no_trail_means_the_function_just_runs() -> None:
    @audited(action="free")
    async def free() -> int:
        return 1

    assert await free() == 1


async def test_query_filters_and_jsonl_export(trail: AuditTrail) -> None:
    for actor, action, resource in [("a", "x", "r1"), ("a", "y", "r2"), ("b", "x", "r1")]:
        await trail.record(AuditEvent(action=action, actor=actor, resource=resource))
    assert len(await trail.query(actor="a")) == 2
    assert len(await trail.query(action="x", resource="r1")) == 2
    first = (await trail.query())[0]
    assert await trail.query(since=first.timestamp, actor="b") != []
    assert await trail.query(until=first.timestamp) == []
    out = io.StringIO()
    assert await trail.export_jsonl(out, action="x") == 2
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert {line["actor"] for line in lines} == {"a", "b"}
    assert all(line["mac"] and line["seq"] for line in lines)


async def test_json_log_sink_gets_sealed_events(store: AuditStore) -> None:
    stream = io.StringIO()
    trail = AuditTrail(store, sinks=[JsonLogSink(stream=stream)])
    await trail.record(AuditEvent(action="logged"))
    line = json.loads(stream.getvalue())
    assert line["action"] == "logged"
    assert line["seq"] == 1
    assert len(line["mac"]) == 64


# -- tamper evidence ------------------------------------------------------------------


async def _fill(trail: AuditTrail, n: int = 10) -> None:
    for i in range(n):
        await trail.record(AuditEvent(action="act", actor=f"u{i}", details=json.dumps({"i": i})))


async def _sql(store: AuditStore, statement: str, **params: Any) -> None:
    async with store.engine.begin() as conn:
        await conn.execute(text(statement), params)


async def test_intact_chain_verifies(trail: AuditTrail) -> None:
    await _fill(trail)
    await trail.checkpoint()
    report = await trail.verify()
    assert report.ok
    assert (report.events, report.checkpoints) == (10, 1)


async def test_edited_field_is_detected(trail: AuditTrail) -> None:
    await _fill(trail)
    await _sql(trail.store, "UPDATE audit_events SET actor = 'mallory' WHERE seq = 4")
    report = await trail.verify()
    assert (report.ok, report.bad_seq) == (False, 4)
    assert "MAC" in (report.reason or "")


async def test_deleted_event_is_detected(trail: AuditTrail) -> None:
    await _fill(trail)
    await _sql(trail.store, "DELETE FROM audit_events WHERE seq = 6")
    report = await trail.verify()
    assert (report.ok, report.bad_seq) == (False, 6)


async def test_swapped_events_are_detected(trail: AuditTrail) -> None:
    await _fill(trail)
    # Swap the contents of events 3 and 7, keeping their positions.
    await _sql(trail.store, "UPDATE audit_events SET seq = -3 WHERE seq = 3")
    await _sql(trail.store, "UPDATE audit_events SET seq = 3 WHERE seq = 7")
    await _sql(trail.store, "UPDATE audit_events SET seq = 7 WHERE seq = -3")
    report = await trail.verify()
    assert (report.ok, report.bad_seq) == (False, 3)


async def test_inserted_forged_event_is_detected(trail: AuditTrail) -> None:
    await _fill(trail)
    # Make room after seq 5 and insert a plausible event with a made-up MAC.
    events = await trail.query(limit=None)
    await _sql(trail.store, "UPDATE audit_events SET seq = seq + 100 WHERE seq > 5")
    await _sql(trail.store, "UPDATE audit_events SET seq = seq - 99 WHERE seq > 100")
    fifth = events[4]
    await _sql(
        trail.store,
        "INSERT INTO audit_events (id, chain, seq, timestamp, action, outcome, details, key_id,"
        " prev_mac, mac) VALUES (:id, 'default', 6, :ts, 'grant_admin', 'success', '{}', :kid,"
        " :prev, :mac)",
        id="f" * 32,
        ts=fifth.timestamp,
        kid=fifth.key_id,
        prev=fifth.mac,
        mac="0" * 64,
    )
    report = await trail.verify()
    assert (report.ok, report.bad_seq, report.bad_event_id) == (False, 6, "f" * 32)


async def test_truncated_tail_after_a_checkpoint_is_detected(trail: AuditTrail) -> None:
    await _fill(trail)
    await trail.checkpoint()
    # Delete the last three events and rewind the head row to match: only the
    # signed checkpoint still remembers the tail.
    events = await trail.query(limit=None)
    await _sql(trail.store, "DELETE FROM audit_events WHERE seq > 7")
    await _sql(trail.store, "UPDATE audit_chain_heads SET seq = 7, mac = :mac", mac=events[6].mac)
    report = await trail.verify()
    assert not report.ok
    assert "truncated" in (report.reason or "")


async def test_forged_checkpoint_is_detected(trail: AuditTrail) -> None:
    await _fill(trail)
    await trail.checkpoint()
    await _sql(trail.store, "UPDATE audit_checkpoints SET signature = :s", s="00" * 64)
    report = await trail.verify()
    assert not report.ok
    assert "signature" in (report.reason or "")


async def test_verification_survives_key_rotation(trail: AuditTrail) -> None:
    await _fill(trail, 3)
    trail.sealer.keyring.rotate()
    await _fill(trail, 3)
    await trail.checkpoint()
    report = await trail.verify()
    assert report.ok, report.describe()
    kids = {e.key_id for e in await trail.query(limit=None)}
    assert len(kids) == 2


async def test_closing_a_busy_buffered_trail_never_hangs(store: AuditStore) -> None:
    for _ in range(20):
        trail = AuditTrail(store, mode="buffered", flush_interval=0.001)
        for i in range(20):
            await trail.record(AuditEvent(action="close-race", resource=str(i)))
        with anyio.fail_after(10):
            await trail.aclose()
        assert trail.pending == 0
    assert len(await store.query(action="close-race", limit=None)) == 400


async def test_sync_events_queued_before_the_trail_started_are_kept(store: AuditStore) -> None:
    trail = AuditTrail(store)

    @audited(action="early", trail=trail)
    def early() -> int:
        return 1

    await anyio.to_thread.run_sync(early)  # no event loop bound to the trail yet
    await trail.aclose()
    assert len(await store.query(action="early")) == 1
