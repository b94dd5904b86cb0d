"""Data-subject requests, consent and provable erasure, on real SQLite and PostgreSQL, a
real Redis (the tiered cache) and real model files.

A subject is seeded everywhere backbeat keeps personal data (listening events, weekly
playlists, credentials, consents, billing, a cached entry, audit events naming them, a
trained model); their access request is verified with the code read from the outbox; the
export holds their data; their erasure request is verified; then nothing anywhere still
holds their ID and the audit chain verifies.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email
import io
import json
import uuid
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from backbeat.catalogue import BillingEvent, Catalogue, EventRepository
from backbeat.compliance import ConsentRequired, GdprCompliance, PrivacyConflict
from backbeat.errors import BackbeatError, SecurityError
from backbeat.recommend import ALS, Interaction, InteractionMatrix, load_model, save_model
from backbeat.settings import Settings
from backbeat.storage import create_engine, upgrade
from backbeat.toolkit import Toolkit
from tests.conftest import DATABASE_URL, REDIS_URL, need_service

pytestmark = pytest.mark.anyio
SUBJECT = "zoe-8d2f1c"
OTHER = "max-41aa07"
TRACK = "4uLU6hMCjMI75M1A2tKUQC"


class Clock:
    def __init__(self) -> None:
        self.now = dt.datetime(2026, 1, 31, 12, 0, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture(params=["sqlite", "postgresql"])
async def toolkit(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Toolkit]:
    need_service("Redis", REDIS_URL)
    env = {"BACKBEAT_DATA_DIR": str(tmp_path), "REDIS_URL": REDIS_URL}
    schema = None
    if request.param == "postgresql":
        need_service("PostgreSQL", DATABASE_URL)
        schema = f"bbtest_{uuid.uuid4().hex[:12]}"
        admin = create_engine(DATABASE_URL)
        async with admin.begin() as conn:
            await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        await admin.dispose()
    tk = Toolkit(Settings.from_env(env))
    if schema is not None:
        tk._engine = create_engine(DATABASE_URL, schema=schema)
    async with tk:
        await tk.migrate() if schema is None else await upgrade(tk.database_engine())
        yield tk
        if tk.settings.redis_url:
            await tk.redis_client().flushdb()
    if schema is not None:
        admin = create_engine(DATABASE_URL)
        async with admin.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        await admin.dispose()


def _code(outbox: Path, request_id: str) -> str:
    for path in sorted(outbox.glob("*.eml"), reverse=True):
        message = email.message_from_bytes(path.read_bytes())
        body = message.get_payload(decode=True).decode()
        if request_id in body:
            return next(
                line.split("code:")[1].strip() for line in body.splitlines() if "code:" in line
            )
    raise AssertionError("no mail for the request")


async def _seed(tk: Toolkit, gdpr: GdprCompliance, subject: str) -> None:
    from decimal import Decimal

    engine = tk.database_engine()
    catalogue = Catalogue.from_settings(tk.settings, engine)
    rows = [
        {
            "user_id": user,
            "track_id": TRACK if i % 2 else "0OdUWJ0sBjDrqHygGUXeCF",
            "kind": "play",
            "timestamp": 1.7e9 + i * 60,
            "ms_played": 120_000,
        }
        for user in (subject, OTHER)
        for i in range(40)
    ]
    await catalogue.events.add(rows, digest=gdpr.suppression_digest)
    await catalogue.credentials.put(f"jwt:{subject}", "spotify", "sealed-token", None)
    await catalogue.billing.apply(
        f"k-{subject}",
        BillingEvent("subscribe", subject, 1.7e9, "premium", Decimal("9.99"), "EUR"),
    )
    await gdpr.set_consent(subject, "personalization", "given", notice_version="2026-01")
    await gdpr.log_processing_activity(
        user_id=subject, data_type="audio_features", purpose="personalization"
    )
    await tk.cache.set(gdpr.user_cache_key(subject, "recs"), {"user": subject, "top": [TRACK]})
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO weekly_playlists (user_id, week, picks, model, created_at) "
                "VALUES (:u, '2026-W05', '[]', 'v1', :t)"
            ),
            {"u": subject, "t": dt.datetime(2026, 1, 30, tzinfo=dt.UTC)},
        )
    events = [Interaction(r["user_id"], r["track_id"], r["timestamp"]) for r in rows]
    model = ALS(factors=4, iterations=2).fit(InteractionMatrix.build(events))
    folder = tk.settings.data_dir / "models" / "recommendation" / "v1"
    folder.mkdir(parents=True)
    save_model(model, folder / "model.npz")


async def test_access_then_erasure_leaves_no_trace(toolkit: Toolkit) -> None:
    clock = Clock()
    gdpr = toolkit.compliance
    gdpr.clock = clock
    await _seed(toolkit, gdpr, SUBJECT)
    outbox = toolkit.settings.data_dir / "outbox"

    access = await gdpr.process_data_subject_request(
        user_id=SUBJECT, request_type="access", email="zoe@example.org"
    )
    assert access.status == "pending_verification"
    assert access.due_at == dt.datetime(2026, 2, 28, 12, 0, tzinfo=dt.UTC)  # one month
    done = await gdpr.verify_request(access.id, _code(outbox, access.id))
    assert done.status == "completed"
    archive = zipfile.ZipFile(io.BytesIO((await gdpr.export_path(access.id)).read_bytes()))
    manifest = json.loads(archive.read("manifest.json"))
    rows = {c["category"]: c["rows"] for c in manifest["categories"]}
    assert rows["listening_events"] == 40
    assert rows["credentials"] == 1
    assert rows["billing"] == 2  # the subscription and its first charge
    assert rows["weekly_playlists"] == 1
    assert all(
        {"purposes", "lawful_basis", "retention", "recipients"} <= set(c)
        for c in manifest["categories"]
    )
    assert "sealed-token" not in archive.read("credentials.json").decode()
    assert len(list(csv_rows(archive, "listening_events.csv"))) == 40

    erasure = await gdpr.process_data_subject_request(
        user_id=SUBJECT, request_type="erasure", email="zoe@example.org"
    )
    done = await gdpr.verify_request(erasure.id, _code(outbox, erasure.id))
    assert done.status == "completed"
    assert done.outcome["erased"]["listening_events"] == 40

    assert await gdpr.verify_erasure(SUBJECT) == []
    report = await toolkit.audit.verify()
    assert report.ok, report.describe()
    async with toolkit.database_engine().connect() as conn:
        count = (
            await conn.execute(
                text(
                    "SELECT count(*) FROM audit_events WHERE actor LIKE :p OR resource LIKE :p "
                    "OR details LIKE :p"
                ),
                {"p": f"%{SUBJECT}%"},
            )
        ).scalar_one()
        assert count == 0
        kept = (
            await conn.execute(text("SELECT count(*) FROM payments WHERE user_id LIKE 'erased:%'"))
        ).scalar_one()
        assert kept == 1  # the accounting record stays, unlinked
        others = (
            await conn.execute(
                text("SELECT count(*) FROM listening_events WHERE user_id = :u"), {"u": OTHER}
            )
        ).scalar_one()
        assert others == 40
    model = load_model(toolkit.settings.data_dir / "models" / "recommendation" / "v1" / "model.npz")
    assert OTHER in model._require().users
    assert await toolkit.cache.get(gdpr.user_cache_key(SUBJECT, "recs")) is None
    with pytest.raises(PrivacyConflict) as info:
        await gdpr.erase_subject(SUBJECT)
    assert info.value.code == "privacy.already_erased"


def csv_rows(archive: zipfile.ZipFile, name: str) -> list[str]:
    return archive.read(name).decode().strip().splitlines()[1:]


async def test_tokens_are_single_use_expiring_and_unforgeable(toolkit: Toolkit) -> None:
    clock = Clock()
    gdpr = toolkit.compliance
    gdpr.clock = clock
    outbox = toolkit.settings.data_dir / "outbox"
    request = await gdpr.process_data_subject_request(
        user_id="nobody-known", request_type="know", email="who@example.org", jurisdiction="ccpa"
    )
    assert request.type == "access"
    assert request.due_at == clock.now + dt.timedelta(days=45)
    code = _code(outbox, request.id)
    nonce, signature, expires = code.split(".")
    forged = f"{nonce}.{'0' * len(signature)}.{expires}"
    odd = (f"{nonce}.é{signature[1:]}.{expires}", f"{nonce}.{signature}.²")  # not ASCII
    for bad in (forged, "garbage", f"{nonce}.{signature}.{int(expires) + 10}", *odd):
        with pytest.raises(SecurityError) as info:
            await gdpr.verify_request(request.id, bad)
        assert info.value.code == "privacy.token_invalid"
    clock.now += dt.timedelta(hours=25)
    with pytest.raises(SecurityError) as info:
        await gdpr.verify_request(request.id, code)
    assert info.value.code == "privacy.token_expired"
    clock.now -= dt.timedelta(hours=25)
    done = await gdpr.verify_request(request.id, code)
    # an unknown subject: the request completes and says nothing was found
    assert done.status == "completed"
    assert set(done.outcome["rows"].values()) <= {0, 1}  # at most the request itself
    with pytest.raises(SecurityError) as info:
        await gdpr.verify_request(request.id, code)
    assert info.value.code == "privacy.token_used"


async def test_deadlines_overdue_and_extension(toolkit: Toolkit) -> None:
    clock = Clock()
    gdpr = toolkit.compliance
    gdpr.clock = clock
    request = await gdpr.process_data_subject_request(
        user_id=OTHER, request_type="erasure", email="max@example.org"
    )
    assert await gdpr.list_requests(overdue=True) == []
    clock.now += dt.timedelta(days=25)
    soon = await gdpr.list_requests(due_within=dt.timedelta(days=7))
    assert [r.id for r in soon] == [request.id]
    clock.now += dt.timedelta(days=10)
    overdue = await gdpr.list_requests(overdue=True)
    assert [r.id for r in overdue] == [request.id]
    extended = await gdpr.extend_request(request.id, "complex request: many stores")
    assert extended.due_at == dt.datetime(2026, 4, 28, 12, 0, tzinfo=dt.UTC)  # +2 months
    assert await gdpr.list_requests(overdue=True) == []
    with pytest.raises(PrivacyConflict):
        await gdpr.extend_request(request.id, "again")


async def test_an_erasure_racing_new_events_leaves_none(toolkit: Toolkit) -> None:
    gdpr = toolkit.compliance
    events = EventRepository(toolkit.database_engine())
    row = {"user_id": SUBJECT, "track_id": TRACK, "kind": "play", "timestamp": 1.7e9}

    async def keep_posting() -> None:
        for i in range(60):
            await events.add([{**row, "timestamp": 1.7e9 + i}], digest=gdpr.suppression_digest)
            await asyncio.sleep(0)

    poster = asyncio.create_task(keep_posting())
    await asyncio.sleep(0.05)
    await gdpr.erase_subject(SUBJECT)
    await poster
    async with toolkit.database_engine().connect() as conn:
        left = (
            await conn.execute(
                text("SELECT count(*) FROM listening_events WHERE user_id = :u"), {"u": SUBJECT}
            )
        ).scalar_one()
    assert left == 0
    assert await events.add([row], digest=gdpr.suppression_digest) == 0


async def test_consent_is_required_and_withdrawal_is_immediate(toolkit: Toolkit) -> None:
    gdpr = toolkit.compliance
    with pytest.raises(ConsentRequired):
        await gdpr.require_consent(OTHER, "marketing")
    await gdpr.set_consent(OTHER, "marketing", "given", notice_version="v3", source="signup")
    await gdpr.require_consent(OTHER, "marketing")
    state = await gdpr.set_consent(OTHER, "marketing", "withdrawn", source="settings page")
    assert state["status"] == "withdrawn"
    assert state["given_at"] is not None
    assert state["withdrawn_at"] is not None
    with pytest.raises(ConsentRequired) as info:
        await gdpr.require_consent(OTHER, "marketing")
    assert info.value.code == "privacy.consent_required"
    with pytest.raises(BackbeatError) as bad:
        await gdpr.set_consent(OTHER, "marketing", "maybe")
    assert bad.value.code == "privacy.consent_status"


async def test_records_retention_and_expiry(toolkit: Toolkit) -> None:
    clock = Clock()
    gdpr = toolkit.compliance
    gdpr.clock = clock
    events = EventRepository(toolkit.database_engine())
    old = dt.datetime(2015, 6, 1, tzinfo=dt.UTC).timestamp()
    await events.add(
        [
            {"user_id": f"u{i}", "track_id": TRACK, "kind": "play", "timestamp": old + i}
            for i in range(12)
        ]
        + [{"user_id": "recent", "track_id": TRACK, "kind": "play", "timestamp": 1.76e9}]
    )
    await gdpr.log_processing_activity(
        user_id="u1", data_type="audio_features", purpose="personalization"
    )
    await gdpr.log_processing_activity(
        user_id="u2", data_type="audio_features", purpose="personalization"
    )
    records = await gdpr.records_of_processing()
    assert records["activities"] == [
        {
            "data_type": "audio_features",
            "purpose": "personalization",
            "records": 2,
            "subjects": 2,
            "last": records["activities"][0]["last"],
        }
    ]
    assert "| listening_events |" in gdpr.records_markdown(records)
    anonymised = await gdpr.auto_anonymize_expired_data(
        retention_policy="7_years", anonymization_method="k_anonymity"
    )
    assert anonymised["events"] == 12
    assert anonymised["users"] == 12
    assert anonymised["k"] == 5
    async with toolkit.database_engine().connect() as conn:
        groups = (
            await conn.execute(
                text(
                    "SELECT user_id, count(*) FROM listening_events WHERE timestamp < :t "
                    "GROUP BY user_id"
                ),
                {"t": old + 100},
            )
        ).all()
    assert all(user.startswith("anon:") and n >= 5 for user, n in groups)
    dry = await gdpr.retention_sweep(dry_run=True)
    assert dry["listening_events"] == 12  # older than the default 2 years
    assert (await gdpr.retention_sweep())["listening_events"] == 12
    assert (await gdpr.retention_sweep(dry_run=True))["listening_events"] == 0


async def test_smtp_delivery_to_a_real_server(toolkit: Toolkit, free_port: int) -> None:
    from aiosmtpd.controller import Controller

    from backbeat.compliance import Mailer

    received: list[Any] = []

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
            received.append(envelope)
            return "250 OK"

    controller = Controller(Handler(), hostname="127.0.0.1", port=free_port)
    controller.start()
    try:
        gdpr = toolkit.compliance
        gdpr.mailer = Mailer(
            outbox=toolkit.settings.data_dir / "outbox",
            smtp_url=f"smtp://127.0.0.1:{free_port}",
            sender="Privacy <privacy@example.org>",
        )
        request = await gdpr.process_data_subject_request(
            user_id=OTHER, request_type="portability", email="max@example.org"
        )
        await asyncio.sleep(0.2)
        assert len(received) == 1
        assert received[0].rcpt_tos == ["max@example.org"]
        body = email.message_from_bytes(received[0].content).get_payload(decode=True).decode()
        code = next(line.split("code:")[1].strip() for line in body.splitlines() if "code:" in line)
        assert (await gdpr.verify_request(request.id, code)).status == "completed"
        assert not list((toolkit.settings.data_dir / "outbox").glob("*.eml"))
    finally:
        controller.stop()


async def test_withdrawn_consent_takes_events_out_of_training(toolkit: Toolkit) -> None:
    gdpr = toolkit.compliance
    events = EventRepository(toolkit.database_engine())
    await events.add(
        [
            {"user_id": user, "track_id": TRACK, "kind": "play", "timestamp": 1.7e9 + i}
            for i, user in enumerate([SUBJECT, OTHER, SUBJECT])
        ]
    )
    assert {i.user for i in await events.interactions()} == {SUBJECT, OTHER}
    await gdpr.set_consent(SUBJECT, "personalization", "withdrawn", lawful_basis="contract")
    assert await events.objects(SUBJECT)
    assert {i.user for i in await events.interactions()} == {OTHER}
    await gdpr.set_consent(SUBJECT, "personalization", "given")
    assert {i.user for i in await events.interactions()} == {SUBJECT, OTHER}


async def test_a_host_category_is_exported_rectified_and_erased(toolkit: Toolkit) -> None:
    from backbeat.compliance import DataCategory, Erased

    profiles = {SUBJECT: {"display_name": "Zoe", "city": "Lyon"}, OTHER: {"city": "Nantes"}}

    async def export(subject: str) -> list[dict[str, Any]]:
        return [dict(profiles[subject])] if subject in profiles else []

    async def erase(subject: str) -> Erased:
        return Erased(1 if profiles.pop(subject, None) is not None else 0)

    async def rectify(subject: str, changes: dict[str, Any]) -> int:
        profiles[subject].update(changes)
        return 1

    gdpr = toolkit.compliance
    gdpr.datamap.register(
        DataCategory(
            "profiles",
            "Display name and city",
            "the host app's users table",
            ("account",),
            "contract",
            retention="3_years",
            export=export,
            erase=erase,
            rectify=rectify,
        )
    )
    archive = zipfile.ZipFile(io.BytesIO(await gdpr.export_subject(SUBJECT)))
    assert json.loads(archive.read("profiles.json")) == [{"display_name": "Zoe", "city": "Lyon"}]
    outbox = toolkit.settings.data_dir / "outbox"
    fix = await gdpr.process_data_subject_request(
        user_id=SUBJECT,
        request_type="rectification",
        email="zoe@example.org",
        changes={"profiles": {"city": "Lille"}},
    )
    done = await gdpr.verify_request(fix.id, _code(outbox, fix.id))
    assert done.outcome == {"rectified": {"profiles": 1}}
    assert profiles[SUBJECT]["city"] == "Lille"
    bad = await gdpr.process_data_subject_request(
        user_id=SUBJECT,
        request_type="rectification",
        email="zoe@example.org",
        changes={"billing": {"plan": "free"}},
    )
    with pytest.raises(BackbeatError) as info:
        await gdpr.verify_request(bad.id, _code(outbox, bad.id))
    assert info.value.code == "privacy.rectify_unsupported"
    assert (await gdpr.get_request(bad.id)).status == "rejected"
    report = await gdpr.erase_subject(SUBJECT)
    assert report.categories["profiles"]["rows"] == 1
    assert SUBJECT not in profiles
    assert OTHER in profiles


async def test_audit_events_about_a_user_are_erasable(toolkit: Toolkit) -> None:
    from backbeat.audit import AuditEvent, audited, canonical_details

    gdpr = toolkit.compliance
    await toolkit.audit.record(
        AuditEvent(
            action="profile.view",
            actor=SUBJECT,
            resource=f"user:{SUBJECT}",
            details=canonical_details({"viewer": SUBJECT, "fields": ["city"]}),
            subject=SUBJECT,
        )
    )

    @audited(
        "playlist.share",
        resource="user:{user}",
        subject=lambda user, **_: user,
        trail=toolkit.audit,
    )
    async def share(user: str, playlist: str) -> str:
        return playlist

    await share(SUBJECT, playlist="road trip")
    await toolkit.audit.flush()
    ref = await gdpr.subject_ref(SUBJECT)
    stored = await toolkit.audit.query(resource=f"user:{ref}")
    assert [e.action for e in stored] == ["profile.view", "playlist.share"]
    assert stored[0].actor == ref
    assert stored[0].details_dict == {"viewer": ref, "fields": ["city"]}
    assert "subject" not in stored[0].to_dict()
    await gdpr.erase_subject(SUBJECT)
    assert await gdpr.verify_erasure(SUBJECT) == []
    assert (await toolkit.audit.verify()).ok
    assert await gdpr.subject_ref(SUBJECT) != ref  # the old reference leads nowhere now


async def test_backbeat_categories_can_be_rectified(toolkit: Toolkit) -> None:
    gdpr = toolkit.compliance
    await _seed(toolkit, gdpr, SUBJECT)
    first = dt.datetime.fromtimestamp(1.7e9 + 60, dt.UTC).isoformat()  # i = 1: TRACK
    changed = await gdpr.rectify_subject(
        SUBJECT,
        {
            "listening_events": {
                "remove": [{"track": TRACK, "timestamp": first}],
                "remove_between": [
                    dt.datetime.fromtimestamp(1.7e9 + 30 * 60, dt.UTC).isoformat(),
                    dt.datetime.fromtimestamp(1.7e9 + 39 * 60, dt.UTC).isoformat(),
                ],
            },
            "weekly_playlists": {"regenerate": True},
            "credentials": {"remove": ["spotify"]},
        },
    )
    assert changed == {"listening_events": 11, "weekly_playlists": 1, "credentials": 1}
    archive = zipfile.ZipFile(io.BytesIO(await gdpr.export_subject(SUBJECT)))
    assert len(json.loads(archive.read("listening_events.json"))) == 29
    assert "credentials.json" not in archive.namelist()
    with pytest.raises(BackbeatError) as info:
        await gdpr.rectify_subject(SUBJECT, {"listening_events": {"remove_between": ["soon"]}})
    assert info.value.code == "privacy.changes_invalid"
