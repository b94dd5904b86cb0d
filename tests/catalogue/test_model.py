"""The served model: rebuilt when the catalogue changes, never making requests wait on it."""

from __future__ import annotations

import time

import anyio
import pytest

from backbeat.catalogue import Catalogue, CatalogueModel, TrackMetadata
from tests.catalogue.test_worker import catalogue  # noqa: F401 (fixture)
from tests.integration._upload import ARTIST

pytestmark = pytest.mark.anyio


async def _add(catalogue: Catalogue, n: int) -> None:  # noqa: F811
    meta = {"id": f"{n:022d}", "name": "t", "artists": [{"id": ARTIST, "name": "B"}]}
    await catalogue.register(TrackMetadata.model_validate(meta))


async def test_requests_during_a_rebuild_get_the_current_model_at_once(
    catalogue: Catalogue,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    served = CatalogueModel(catalogue.tracks)
    await _add(catalogue, 1)
    first = await served.get()
    assert set(first.records) == {f"{1:022d}"}
    await _add(catalogue, 2)
    monkeypatch.setattr("backbeat.catalogue._model.POINTER_CHECK_S", 0.0)
    slow_fit = served._fit

    def slow(*args):  # type: ignore[no-untyped-def]
        time.sleep(1.0)
        return slow_fit(*args)

    monkeypatch.setattr(served, "_fit", slow)
    answers: dict[str, tuple[float, int]] = {}

    async def ask(name: str, delay: float) -> None:
        await anyio.sleep(delay)
        started = time.monotonic()
        fitted = await served.get()
        answers[name] = (time.monotonic() - started, len(fitted.records))

    async with anyio.create_task_group() as tg:
        tg.start_soon(ask, "rebuilder", 0.0)
        tg.start_soon(ask, "meanwhile", 0.3)
    assert answers["rebuilder"][1] == 2  # the request that saw the change got the new model
    waited, size = answers["meanwhile"]
    assert size == 1  # the old model answered...
    assert waited < 0.5  # ...at once, not after the rebuild
    assert len((await served.get()).records) == 2
