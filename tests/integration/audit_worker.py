"""Helper process: append audit events to a PostgreSQL schema (run as a script).

Usage: audit_worker.py DATABASE_URL SCHEMA KEYRING EVENTS
Prints "ready", waits for the file named by the env var BACKBEAT_GO to exist,
records EVENTS events through @audited (direct mode), prints "done".
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from backbeat.audit import AuditStore, AuditTrail, Sealer, audited
from backbeat.security import Keyring
from backbeat.storage import create_engine


async def main(url: str, schema: str, keys: str, n: int) -> None:
    engine = create_engine(url, schema=schema)
    trail = AuditTrail(AuditStore(engine, Sealer(Keyring.from_string(keys))), checkpoint_every=0)

    @audited(action="worker_event", trail=trail)
    async def work(i: int) -> int:
        return i

    print("ready", flush=True)
    go = Path(os.environ["BACKBEAT_GO"])
    while not go.exists():  # noqa: ASYNC110, ASYNC240 - the go signal is a file
        await asyncio.sleep(0.005)
    await asyncio.gather(*(work(i) for i in range(n)))
    print("done", flush=True)
    await trail.aclose()
    await engine.dispose()


if __name__ == "__main__":
    url, schema, keys, n = sys.argv[1:]
    asyncio.run(main(url, schema, keys, int(n)))
