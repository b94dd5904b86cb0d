"""``AuditStore``: the audit tables' repository (append, query, checkpoints).

**One chain, many writers.** An append starts with
``UPDATE audit_chain_heads SET seq = seq + n WHERE chain = ? RETURNING seq, mac``:
the first statement of the transaction is a write, so PostgreSQL row-locks the
chain head and SQLite takes its write lock at once; every other writer (task,
process, machine) waits for the commit, then continues from the new head. The
events and the new head MAC are written in the same transaction, so the chain
never forks and never has gaps. We chose this over per-writer chains merged by
checkpoints: one sequence is what auditors read, and the lock is held for one
short transaction.

**Nothing acknowledged is lost.** ``append`` returns only after COMMIT. If the
connection dies (PostgreSQL restarted, backend terminated) the transaction is
retried on a fresh connection; event ids are primary keys, so a commit whose
acknowledgement was lost is found, not written twice.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
from collections.abc import AsyncIterator, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from backbeat.audit._event import GENESIS, AuditEvent
from backbeat.audit._seal import Sealer
from backbeat.errors import Unavailable
from backbeat.storage import audit_chain_heads as heads
from backbeat.storage import audit_checkpoints as checkpoints
from backbeat.storage import audit_events as events

__all__ = ["AuditStore", "Checkpoint"]

log = logging.getLogger(__name__)

_COLUMNS = [c.name for c in events.columns]


def _row_to_event(row: Any) -> AuditEvent:
    data = dict(row._mapping)
    ts = data["timestamp"]
    if ts.tzinfo is None:
        data["timestamp"] = ts.replace(tzinfo=dt.UTC)
    return AuditEvent(**data)


class Checkpoint:
    """A signed statement of a chain's head (``seq`` and ``mac``) at a time."""

    __slots__ = ("chain", "key_id", "mac", "seq", "signature", "timestamp")

    def __init__(
        self, chain: str, seq: int, mac: str, timestamp: dt.datetime, key_id: str, signature: str
    ) -> None:
        self.chain, self.seq, self.mac = chain, seq, mac
        self.timestamp, self.key_id, self.signature = timestamp, key_id, signature


def _is_missing_table(error: DBAPIError) -> bool:
    """SQLite's "no such table", PostgreSQL's undefined_table (SQLSTATE 42P01)."""
    orig = error.orig
    state = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    text = str(orig).lower()
    return state == "42P01" or "no such table" in text or "undefinedtable" in text


class AuditStore:
    """Reads and writes the audit tables through an async engine."""

    def __init__(self, engine: AsyncEngine, sealer: Sealer, *, retries: int = 5) -> None:
        self.engine = engine
        self.sealer = sealer
        self.retries = retries

    # -- append -----------------------------------------------------------------------

    async def append(self, drafts: Sequence[AuditEvent]) -> list[AuditEvent]:
        """Seal and store events (all of one chain), in order; returns them sealed."""
        if not drafts:
            return []
        chain = drafts[0].chain
        delay = 0.05
        for attempt in range(1, self.retries + 1):
            try:
                async with self.engine.begin() as conn:
                    return await self._append(conn, chain, drafts)
            except IntegrityError:
                stored = await self._already_stored(drafts)
                if stored is not None:
                    return stored
                raise
            except DBAPIError as e:
                if _is_missing_table(e):
                    raise Unavailable(
                        "audit.not_migrated",
                        message=(
                            "The audit tables do not exist in this database: run "
                            "`backbeat db upgrade` (or `await Toolkit.migrate()`) first."
                        ),
                    ) from e
                if not e.connection_invalidated and not _is_disconnect(e):
                    raise
                stored = await self._already_stored(drafts)
                if stored is not None:
                    return stored  # committed; only the acknowledgement was lost
                if attempt == self.retries:
                    raise Unavailable(
                        "audit.unavailable",
                        details={"reason": type(e.orig).__name__ if e.orig else "DBAPIError"},
                        message="The audit database is unreachable ({reason}).",
                    ) from e
                log.warning("audit: database connection lost; retrying (%s)", attempt)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 1.0)
        raise AssertionError("unreachable")

    async def _append(
        self, conn: AsyncConnection, chain: str, drafts: Sequence[AuditEvent]
    ) -> list[AuditEvent]:
        n = len(drafts)
        bump = (
            sa.update(heads)
            .where(heads.c.chain == chain)
            .values(seq=heads.c.seq + n)
            .returning(heads.c.seq, heads.c.mac)
        )
        row = (await conn.execute(bump)).first()
        if row is None:
            await conn.execute(self._insert_head(chain))
            row = (await conn.execute(bump)).first()
            assert row is not None
        last_seq, prev = int(row[0]), str(row[1])
        kid = self.sealer.key_id
        sealed = []
        for i, draft in enumerate(drafts):
            event = draft.sealed(seq=last_seq - n + 1 + i, key_id=kid, prev_mac=prev, mac="")
            event = dataclasses.replace(event, mac=self.sealer.mac(event))
            sealed.append(event)
            prev = event.mac
        await conn.execute(
            sa.insert(events), [{c: getattr(e, c) for c in _COLUMNS} for e in sealed]
        )
        await conn.execute(sa.update(heads).where(heads.c.chain == chain).values(mac=prev))
        return sealed

    def _insert_head(self, chain: str) -> Any:
        values = {"chain": chain, "seq": 0, "mac": GENESIS}
        if self.engine.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            return pg_insert(heads).values(values).on_conflict_do_nothing()
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert(heads).values(values).on_conflict_do_nothing()

    async def _already_stored(self, drafts: Sequence[AuditEvent]) -> list[AuditEvent] | None:
        ids = [d.id for d in drafts]
        try:
            async with self.engine.connect() as conn:
                rows = (
                    await conn.execute(
                        sa.select(events).where(events.c.id.in_(ids)).order_by(events.c.seq)
                    )
                ).all()
        except DBAPIError:
            return None
        if len(rows) == len(ids):
            return [_row_to_event(r) for r in rows]
        return None

    # -- checkpoints --------------------------------------------------------------------

    async def checkpoint(self, chain: str = "default") -> Checkpoint | None:
        """Sign and store the chain's current head; ``None`` for an empty chain."""
        async with self.engine.begin() as conn:
            row = (
                await conn.execute(
                    sa.select(heads.c.seq, heads.c.mac).where(heads.c.chain == chain)
                )
            ).first()
            if row is None or row[0] == 0:
                return None
            seq, mac = int(row[0]), str(row[1])
            now = dt.datetime.now(dt.UTC)
            kid, signature = self.sealer.sign_checkpoint(chain, seq, mac, now)
            exists = (
                await conn.execute(
                    sa.select(checkpoints.c.seq).where(
                        checkpoints.c.chain == chain, checkpoints.c.seq == seq
                    )
                )
            ).first()
            if exists is None:
                await conn.execute(
                    sa.insert(checkpoints).values(
                        chain=chain,
                        seq=seq,
                        mac=mac,
                        timestamp=now,
                        key_id=kid,
                        signature=signature,
                    )
                )
        return Checkpoint(chain, seq, mac, now, kid, signature)

    async def checkpoints(self, chain: str = "default") -> list[Checkpoint]:
        async with self.engine.connect() as conn:
            rows = (
                await conn.execute(
                    sa.select(checkpoints)
                    .where(checkpoints.c.chain == chain)
                    .order_by(checkpoints.c.seq)
                )
            ).all()
        out = []
        for r in rows:
            ts = r.timestamp if r.timestamp.tzinfo else r.timestamp.replace(tzinfo=dt.UTC)
            out.append(Checkpoint(r.chain, int(r.seq), r.mac, ts, r.key_id, r.signature))
        return out

    async def head(self, chain: str = "default") -> tuple[int, str]:
        """``(seq, mac)`` of the chain head (``(0, GENESIS)`` for an empty chain)."""
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    sa.select(heads.c.seq, heads.c.mac).where(heads.c.chain == chain)
                )
            ).first()
        return (0, GENESIS) if row is None else (int(row[0]), str(row[1]))

    # -- reads ------------------------------------------------------------------------

    async def query(
        self,
        *,
        chain: str | None = None,
        actor: str | None = None,
        action: str | None = None,
        resource: str | None = None,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        limit: int | None = 1000,
    ) -> list[AuditEvent]:
        """Events matching every given filter, oldest first (``until`` exclusive)."""
        stmt = sa.select(events)
        for column, value in (
            (events.c.chain, chain),
            (events.c.actor, actor),
            (events.c.action, action),
            (events.c.resource, resource),
        ):
            if value is not None:
                stmt = stmt.where(column == value)
        if since is not None:
            stmt = stmt.where(events.c.timestamp >= since)
        if until is not None:
            stmt = stmt.where(events.c.timestamp < until)
        stmt = stmt.order_by(events.c.timestamp, events.c.chain, events.c.seq)
        if limit is not None:
            stmt = stmt.limit(limit)
        async with self.engine.connect() as conn:
            return [_row_to_event(r) for r in (await conn.execute(stmt)).all()]

    async def iter_chain(
        self, chain: str = "default", *, page: int = 1000
    ) -> AsyncIterator[AuditEvent]:
        """Every event of ``chain`` in ``seq`` order, read page by page."""
        after = 0
        while True:
            async with self.engine.connect() as conn:
                rows = (
                    await conn.execute(
                        sa.select(events)
                        .where(events.c.chain == chain, events.c.seq > after)
                        .order_by(events.c.seq)
                        .limit(page)
                    )
                ).all()
            if not rows:
                return
            for r in rows:
                yield _row_to_event(r)
            after = int(rows[-1].seq)

    async def chains(self) -> list[str]:
        async with self.engine.connect() as conn:
            names = set((await conn.execute(sa.select(heads.c.chain))).scalars())
            names |= set((await conn.execute(sa.select(events.c.chain).distinct())).scalars())
        return sorted(names)


def _is_disconnect(e: DBAPIError) -> bool:
    name = type(e.orig).__name__ if e.orig is not None else ""
    text = str(e.orig or e).lower()
    return (
        "connection" in name.lower()
        or "terminat" in text
        or ("connection" in text and ("closed" in text or "lost" in text or "reset" in text))
        or "admin shutdown" in text
        or "cannot connect" in text
    )
