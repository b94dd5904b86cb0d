"""Re-encryption after a master-key rotation: every sealed column the service owns.

After :meth:`KeyManager.rotate`, stored tokens still name the retired master key.
A run walks each :class:`SealedColumn` in primary-key order, in batches; a token
under another key is rewrapped (:meth:`KeyManager.rewrap`: its data key re-wrapped
under the current master key, the body re-sealed; a legacy keyring token is fully
re-encrypted) and written back with a compare-and-set on the old token.

Exactly once, even when killed: a batch's rewritten rows and the run's cursor are
committed in one transaction. A run killed mid-batch loses that batch's work
only, whose rows are still under the old key and are done again on resume; rows
already committed are under the current key and are skipped even without the
cursor. Nothing is skipped: the final verification pass decrypts every token and
checks that it is under the current key.

One run at a time: a run holds a lease (``owner`` host:pid, ``heartbeat_at``
refreshed every batch). A second start while the lease is alive is refused with
``security.reencrypt_running``; a run whose owner is dead (same host, no such pid)
or whose heartbeat is older than the lease is taken over and resumed.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from backbeat.catalogue._accounts import credential_binding
from backbeat.catalogue._records import aware, now
from backbeat.errors import BackbeatError, SecurityError
from backbeat.storage import credentials, reencryption_runs

if TYPE_CHECKING:
    from backbeat.security import KeyManager

__all__ = ["SEALED_COLUMNS", "Reencryption", "ReencryptionResult", "SealedColumn"]

LEASE = dt.timedelta(seconds=60)


@dataclass(frozen=True)
class SealedColumn:
    """A column of :class:`KeyManager` tokens: its table, primary key and binding."""

    name: str
    table: sa.Table
    key_columns: tuple[str, ...]
    column: str
    associated_data: Callable[[Any], bytes]


#: Every sealed column backbeat owns (the compliance issue's per-subject keys join here).
SEALED_COLUMNS: tuple[SealedColumn, ...] = (
    SealedColumn(
        "credentials",
        credentials,
        ("owner", "provider"),
        "ciphertext",
        lambda row: credential_binding(row.owner, row.provider),
    ),
)


@dataclass
class ReencryptionResult:
    run_id: str
    key_id: str
    examined: int = 0
    rewritten: int = 0
    verified: int = 0
    resumed: bool = False
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "key_id": self.key_id,
            "examined": self.examined,
            "rewritten": self.rewritten,
            "verified": self.verified,
            "resumed": self.resumed,
            "problems": self.problems,
        }


def _owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _owner_dead(owner: str) -> bool:
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False  # another machine: only the lease can tell
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _running(run_id: str, owner: str, heartbeat: str) -> SecurityError:
    return SecurityError(
        "security.reencrypt_running",
        details={"run_id": run_id, "owner": owner, "heartbeat": heartbeat},
        message=(
            "Re-encryption run {run_id} is already running ({owner}, last seen "
            "{heartbeat}); wait for it, or stop it first."
        ),
    )


class Reencryption:
    """One resumable re-encryption run over ``columns`` (see the module docstring)."""

    def __init__(
        self,
        engine: AsyncEngine,
        keys: KeyManager,
        *,
        columns: Sequence[SealedColumn] = SEALED_COLUMNS,
        batch_size: int = 200,
        lease: dt.timedelta = LEASE,
    ) -> None:
        if batch_size < 1:
            raise BackbeatError(
                "cli.batch_size",
                details={"value": batch_size},
                message="--batch-size must be 1 or more, not {value}.",
            )
        self.engine = engine
        self.keys = keys
        self.columns = tuple(columns)
        self.batch_size = batch_size
        self.lease = lease
        self.owner = _owner()

    async def total(self) -> int:
        """Rows to examine, across every column."""
        async with self.engine.connect() as conn:
            counts = [
                (await conn.execute(sa.select(sa.func.count()).select_from(c.table))).scalar_one()
                for c in self.columns
            ]
        return int(sum(counts))

    async def _claim(self, key_id: str, force: bool) -> tuple[str, dict[str, Any], int, int, bool]:
        """Take the unfinished run (if its owner is gone) or start one."""
        t = reencryption_runs
        at = now()
        async with self.engine.begin() as conn:
            row = (
                await conn.execute(
                    sa.select(t).where(t.c.state == "running").order_by(t.c.started_at.desc())
                )
            ).first()
            if row is not None:
                heartbeat = aware(row.heartbeat_at) or at
                alive = at - heartbeat < self.lease and not _owner_dead(row.owner)
                if alive and not force:
                    raise _running(row.id, row.owner, heartbeat.isoformat(timespec="seconds"))
                taken = await conn.execute(
                    t.update()
                    .where(t.c.id == row.id, t.c.owner == row.owner, t.c.state == "running")
                    .values(owner=self.owner, heartbeat_at=at, target_key_id=key_id)
                )
                if not taken.rowcount:
                    raise _running(row.id, "another process", "now")
                return row.id, json.loads(row.cursor), row.examined, row.rewritten, True
            run_id = secrets.token_hex(8)
            await conn.execute(
                t.insert().values(
                    id=run_id,
                    target_key_id=key_id,
                    state="running",
                    owner=self.owner,
                    heartbeat_at=at,
                    started_at=at,
                    cursor="{}",
                    examined=0,
                    rewritten=0,
                )
            )
            return run_id, {}, 0, 0, False

    async def run(
        self,
        *,
        progress: Callable[[int], None] | None = None,
        force: bool = False,
    ) -> ReencryptionResult:
        """Resume the unfinished run or start one; returns when every row is verified.

        ``progress(n)`` is called after each batch with the rows it examined.
        """
        import anyio

        key_id = await anyio.to_thread.run_sync(self.keys.provider.refresh)
        run_id, cursor, examined, rewritten, resumed = await self._claim(key_id, force)
        result = ReencryptionResult(run_id, key_id, examined, rewritten, resumed=resumed)
        if progress is not None and examined:
            progress(examined)
        try:
            for column in self.columns:
                await self._column(column, cursor, result, progress)
            await self._verify(result)
        except BaseException as exc:
            code = exc.code if isinstance(exc, BackbeatError) else type(exc).__name__
            if not isinstance(exc, anyio.get_cancelled_exc_class() | KeyboardInterrupt):
                await self._finish(run_id, "failed", code)
            raise
        await self._finish(run_id, "completed" if result.ok else "failed", None)
        return result

    async def _column(
        self,
        column: SealedColumn,
        cursor: dict[str, Any],
        result: ReencryptionResult,
        progress: Callable[[int], None] | None,
    ) -> None:
        table = column.table
        keys = [table.c[k] for k in column.key_columns]
        value = table.c[column.column]
        done = cursor.get(column.name)
        if done == "complete":
            return
        while True:
            query = sa.select(*keys, value).order_by(*keys).limit(self.batch_size)
            if done is not None:
                query = query.where(sa.tuple_(*keys) > sa.tuple_(*[sa.literal(v) for v in done]))
            async with self.engine.connect() as conn:
                rows = (await conn.execute(query)).all()
            if not rows:
                cursor[column.name] = "complete"
                await self._save(result, cursor, 0, 0)
                return
            current = self.keys.provider.current_key_id()
            updates: list[tuple[Any, str, str]] = []
            for row in rows:
                token = getattr(row, column.column)
                if self.keys.is_legacy(token) or self.keys.key_id_of(token) != current:
                    bound = column.associated_data(row)
                    fresh = await self.keys.rewrap(token, associated_data=bound)
                    updates.append((row, token, fresh))
            done = [getattr(rows[-1], k) for k in column.key_columns]
            cursor[column.name] = done
            written = 0
            async with self.engine.begin() as conn:
                for row, old, fresh in updates:
                    match = [table.c[k] == getattr(row, k) for k in column.key_columns]
                    changed = await conn.execute(
                        table.update().where(*match, value == old).values({column.column: fresh})
                    )
                    written += changed.rowcount
                await self._save(result, cursor, len(rows), written, conn=conn)
            if progress is not None:
                progress(len(rows))

    async def _save(
        self,
        result: ReencryptionResult,
        cursor: dict[str, Any],
        examined: int,
        rewritten: int,
        *,
        conn: Any = None,
    ) -> None:
        t = reencryption_runs
        result.examined += examined
        result.rewritten += rewritten
        statement = (
            t.update()
            .where(t.c.id == result.run_id, t.c.owner == self.owner)
            .values(
                cursor=json.dumps(cursor),
                examined=result.examined,
                rewritten=result.rewritten,
                heartbeat_at=now(),
            )
        )
        if conn is not None:
            changed = await conn.execute(statement)
        else:
            async with self.engine.begin() as own:
                changed = await own.execute(statement)
        if not changed.rowcount:
            raise _running(result.run_id, "another process", "now")

    async def _verify(self, result: ReencryptionResult) -> None:
        """Every token decrypts and is under the current key."""
        from backbeat.security import DecryptionError

        current = self.keys.provider.current_key_id()
        for column in self.columns:
            table = column.table
            keys = [table.c[k] for k in column.key_columns]
            async with self.engine.connect() as conn:
                rows = (await conn.execute(sa.select(*keys, table.c[column.column]))).all()
            for row in rows:
                token = getattr(row, column.column)
                where = "/".join(str(getattr(row, k)) for k in column.key_columns)
                try:
                    await self.keys.decrypt_user_data(
                        token, associated_data=column.associated_data(row)
                    )
                except (DecryptionError, BackbeatError) as exc:
                    result.problems.append(f"{column.name} {where}: {exc.code}")
                    continue
                if self.keys.is_legacy(token) or self.keys.key_id_of(token) != current:
                    result.problems.append(f"{column.name} {where}: still under another key")
                    continue
                result.verified += 1

    async def _finish(self, run_id: str, state: str, error_code: str | None) -> None:
        t = reencryption_runs
        async with self.engine.begin() as conn:
            await conn.execute(
                t.update()
                .where(t.c.id == run_id, t.c.owner == self.owner)
                # The cursor holds row keys (owner ids): nothing of it outlives the run.
                .values(
                    state=state,
                    finished_at=now(),
                    heartbeat_at=now(),
                    error_code=error_code,
                    cursor="{}",
                )
            )
