"""Item vectors in PostgreSQL with pgvector: similarity search that scales with the database.

A deployment on PostgreSQL keeps each model's item vectors (ALS item factors,
content vectors, audio embeddings) in one table, ``bb_item_vectors``, indexed by
pgvector's HNSW for cosine distance. Nearest neighbours are then one SQL query
from any process, for catalogues larger than one process's RAM, instead of an
in-process index per worker.

    store = PgVectorStore(engine)
    await store.setup(dimensions=64)              # extension, table, HNSW index
    await store.put("als-v3", ids, vectors)       # upsert (batched)
    await store.search("als-v3", query, k=20)     # [(item_id, cosine similarity)]
    await store.similar("als-v3", "track-id", 20) # excludes the item itself

The extension must be available on the server (``CREATE EXTENSION vector``; Debian's
``postgresql-NN-pgvector``). Vectors travel as pgvector's text literal, so no client
package is needed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from backbeat.errors import ConfigurationError, NotFound, ValidationError

__all__ = ["PgVectorStore"]

TABLE = "bb_item_vectors"  # written out in each statement below
_BATCH = 500


def _literal(vector: Sequence[float] | npt.NDArray[np.floating]) -> str:
    values = np.asarray(vector, dtype=np.float64).ravel()
    if not np.isfinite(values).all():
        raise ValidationError(
            "recommend.vector_input", message="Vectors must hold finite numbers only."
        )
    return "[" + ",".join(repr(float(v)) for v in values) + "]"


class PgVectorStore:
    """Named sets of item vectors in ``bb_item_vectors`` (one HNSW index per dimension)."""

    def __init__(self, engine: AsyncEngine) -> None:
        if engine.dialect.name != "postgresql":
            raise ConfigurationError(
                "config.pgvector_needs_postgres",
                message="The pgvector store needs a PostgreSQL DATABASE_URL.",
            )
        self.engine = engine
        self.dimensions: int | None = None

    async def setup(self, dimensions: int) -> None:
        """Create the extension, the table and its HNSW index (idempotent)."""
        if not isinstance(dimensions, int) or not 1 <= dimensions <= 2000:
            raise ValidationError(
                "recommend.vector_input",
                message="Vectors must have between 1 and 2000 dimensions.",
            )
        async with self.engine.begin() as conn:
            try:
                await conn.execute(text("CREATE EXTENSION IF NOT EXISTS vector"))
            except Exception as exc:  # the server lacks the extension files
                raise ConfigurationError(
                    "config.pgvector_missing",
                    message="PostgreSQL lacks pgvector: install postgresql-NN-pgvector.",
                ) from exc
            await conn.execute(
                text(
                    "CREATE TABLE IF NOT EXISTS bb_item_vectors ("
                    " name text NOT NULL, item_id text NOT NULL,"
                    f" embedding vector({dimensions}) NOT NULL,"
                    " PRIMARY KEY (name, item_id))"
                )
            )
            await conn.execute(
                text(
                    "CREATE INDEX IF NOT EXISTS bb_item_vectors_hnsw ON bb_item_vectors "
                    "USING hnsw (embedding vector_cosine_ops)"
                )
            )
        self.dimensions = dimensions

    async def put(self, name: str, ids: Sequence[str], vectors: npt.NDArray[np.floating]) -> int:
        """Upsert ``vectors[i]`` for ``ids[i]`` under ``name``; returns how many."""
        matrix = np.asarray(vectors, dtype=np.float64)
        if matrix.ndim != 2 or len(matrix) != len(ids):
            raise ValidationError(
                "recommend.vector_input",
                message="Give one vector per id, as a 2-D array.",
            )
        statement = text(
            "INSERT INTO bb_item_vectors (name, item_id, embedding) "
            "VALUES (:name, :item, CAST(:vector AS vector)) "
            "ON CONFLICT (name, item_id) DO UPDATE SET embedding = EXCLUDED.embedding"
        )
        async with self.engine.begin() as conn:
            for start in range(0, len(ids), _BATCH):
                rows = [
                    {"name": name, "item": str(item), "vector": _literal(vector)}
                    for item, vector in zip(
                        ids[start : start + _BATCH], matrix[start : start + _BATCH], strict=True
                    )
                ]
                await conn.execute(statement, rows)
        return len(ids)

    async def put_model(self, name: str, model: object) -> int:
        """Store a fitted model's item vectors (ALS: its item factors) under ``name``."""
        items = getattr(model, "item_list", None)
        factors = getattr(model, "item_factors", None)
        if items is None or factors is None or len(items) != len(factors):
            raise ValidationError(
                "recommend.vector_input",
                message="This model has no item vectors to store (use a fitted ALS).",
            )
        if self.dimensions is None:
            await self.setup(int(np.asarray(factors).shape[1]))
        return await self.put(name, list(items), np.asarray(factors))

    async def search(
        self,
        name: str,
        query: Sequence[float] | npt.NDArray[np.floating],
        k: int = 10,
        *,
        exclude: Sequence[str] = (),
        ef_search: int = 100,
    ) -> list[tuple[str, float]]:
        """The ``k`` nearest items by cosine similarity, best first (HNSW, approximate)."""
        if not isinstance(k, int) or not 1 <= k <= 1000:
            raise ValidationError(
                "validation.recommend_n",
                details={"n": repr(k)},
                message="n must be a positive integer, got {n}.",
            )
        literal = _literal(query)
        async with self.engine.begin() as conn:
            await conn.execute(text(f"SET LOCAL hnsw.ef_search = {max(int(ef_search), k)}"))
            rows = await conn.execute(
                text(
                    "SELECT item_id, 1 - (embedding <=> CAST(:q AS vector)) AS similarity "
                    "FROM bb_item_vectors WHERE name = :name AND NOT (item_id = ANY(:exclude)) "
                    "ORDER BY embedding <=> CAST(:q AS vector) LIMIT :k"
                ),
                {"q": literal, "name": name, "exclude": list(exclude), "k": k},
            )
            return [
                (str(item), float(sim))
                for item, sim in rows
                if sim is not None and not math.isnan(sim)
            ]

    async def vector(self, name: str, item_id: str) -> npt.NDArray[np.float64]:
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    text(
                        "SELECT embedding::text FROM bb_item_vectors"
                        " WHERE name = :n AND item_id = :i"
                    ),
                    {"n": name, "i": item_id},
                )
            ).first()
        if row is None:
            raise NotFound(details={"item": item_id[:80]})
        return np.array([float(v) for v in row[0].strip("[]").split(",")], dtype=np.float64)

    async def similar(self, name: str, item_id: str, k: int = 10) -> list[tuple[str, float]]:
        """Items nearest to ``item_id``'s own vector (the item itself left out)."""
        return await self.search(name, await self.vector(name, item_id), k, exclude=[item_id])

    async def drop(self, name: str) -> int:
        """Delete a named set (e.g. an old model version); returns rows removed."""
        async with self.engine.begin() as conn:
            result = await conn.execute(
                text("DELETE FROM bb_item_vectors WHERE name = :n"), {"n": name}
            )
        return int(result.rowcount or 0)
