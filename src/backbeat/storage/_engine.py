"""The async SQLAlchemy engine for ``DATABASE_URL``, and schema migrations.

SQLite (the embedded default) gets WAL journaling (readers never block the
writer), ``foreign_keys=ON`` and a 5 s busy timeout on every connection, and
its folder is created on first use. PostgreSQL goes through asyncpg; a
``schema`` argument pins ``search_path`` (tests give each run its own schema).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

__all__ = ["create_engine", "to_async_url", "upgrade"]

_MIGRATIONS = Path(__file__).parent / "migrations"


def to_async_url(url: str) -> str:
    """``sqlite:///x`` -> ``sqlite+aiosqlite:///x``; ``postgresql://`` -> ``+asyncpg``."""
    scheme, sep, rest = url.partition("://")
    base = scheme.split("+")[0].lower()
    if base == "sqlite":
        return f"sqlite+aiosqlite{sep}{rest}"
    if base in ("postgresql", "postgres"):
        return f"postgresql+asyncpg{sep}{rest}"
    return url


def create_engine(url: str, *, schema: str | None = None, echo: bool = False) -> AsyncEngine:
    """An async engine for ``url`` (plain or async driver form)."""
    async_url = to_async_url(url)
    connect_args: dict[str, Any] = {}
    if async_url.startswith("sqlite"):
        path = make_url(async_url).database
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        connect_args["timeout"] = 5.0
    else:
        connect_args["timeout"] = 5.0
        if schema:
            connect_args["server_settings"] = {"search_path": schema}
    engine = create_async_engine(
        async_url, connect_args=connect_args, pool_pre_ping=True, echo=echo
    )
    if async_url.startswith("sqlite"):

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=5000")
            cursor.close()

    return engine


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Run the Alembic migrations up to ``revision`` on ``engine``'s database."""
    from alembic import command
    from alembic.config import Config

    def run(sync_connection: Any) -> None:
        config = Config()
        config.set_main_option("script_location", str(_MIGRATIONS))
        config.attributes["connection"] = sync_connection
        command.upgrade(config, revision)

    async with engine.begin() as conn:
        await conn.run_sync(run)


async def current_revision(engine: AsyncEngine) -> str | None:
    """The revision the database is at (``None`` before the first migration)."""
    from alembic.runtime.migration import MigrationContext

    def read(sync_connection: Any) -> str | None:
        rev: str | None = MigrationContext.configure(sync_connection).get_current_revision()
        return rev

    async with engine.connect() as conn:
        return await conn.run_sync(read)
