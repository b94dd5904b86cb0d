"""Jobs, workers and their heartbeats on the embedded SQLite database."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from backbeat import Settings, Toolkit
from backbeat.catalogue import AnalysisWorker, Catalogue, TrackMetadata, alive_window
from tests.catalogue.test_media import _wav
from tests.integration._upload import ARTIST, TRACK

pytestmark = pytest.mark.anyio


@pytest.fixture
async def catalogue(tmp_path: Path) -> AsyncIterator[Catalogue]:
    settings = Settings.from_env({"BACKBEAT_DATA_DIR": str(tmp_path)})
    async with Toolkit(settings) as tk:
        await tk.migrate()
        yield Catalogue.from_settings(settings, tk.database_engine())


async def _register(catalogue: Catalogue, tmp_path: Path, audio: bytes) -> None:
    source = tmp_path / "song.wav"
    source.write_bytes(audio)
    stored = catalogue.media.copy_file(source)
    meta = TrackMetadata.model_validate(
        {"id": TRACK, "name": "Song", "artists": [{"id": ARTIST, "name": "Band"}]}
    )
    assert await catalogue.register(meta, stored)


async def test_the_queue_reports_depth_and_the_oldest_job(
    catalogue: Catalogue, tmp_path: Path
) -> None:
    empty = await catalogue.jobs.stats()
    assert (empty.depth, empty.oldest_queued_at) == (0, None)
    await _register(catalogue, tmp_path, _wav())
    stats = await catalogue.jobs.stats()
    assert (stats.queued, stats.running, stats.failed, stats.depth) == (1, 0, 0, 1)
    age = stats.oldest_age_s()
    assert age is not None
    assert 0 <= age < 60


async def test_a_worker_logs_its_start_each_job_and_its_end(
    catalogue: Catalogue, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    await _register(catalogue, tmp_path, _wav())
    outcomes: list[str] = []
    worker = AnalysisWorker(
        catalogue.jobs,
        catalogue.tracks,
        catalogue.media,
        mode="database",
        on_outcome=lambda outcome, seconds: outcomes.append(outcome),
    )
    with caplog.at_level(logging.INFO, logger="backbeat.worker"):
        await worker.start()
        assert await worker.drain() == 1
        await worker.stop()
    lines = [r.getMessage() for r in caplog.records if r.name == "backbeat.worker"]
    assert lines[0] == f"analysis worker {worker.worker_id} started (database)"
    assert lines[1].startswith(f"job {TRACK} (attempt 1): done in ")
    assert lines[-1] == f"analysis worker {worker.worker_id} stopped: 1 job(s) done, 0 failed"
    assert outcomes == ["done"]


async def test_a_failing_job_is_logged_with_its_error_code(
    catalogue: Catalogue, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    await _register(catalogue, tmp_path, _wav())
    track = await catalogue.tracks.get(TRACK)
    assert track is not None
    assert track.audio_path is not None
    catalogue.media.path(track.audio_path).write_bytes(b"corrupted since upload" * 40)
    worker = AnalysisWorker(catalogue.jobs, catalogue.tracks, catalogue.media)
    with caplog.at_level(logging.INFO, logger="backbeat.worker"):
        await worker.drain()
    (line,) = [r for r in caplog.records if r.getMessage().startswith(f"job {TRACK}")]
    assert line.levelno == logging.WARNING
    assert line.getMessage().endswith("[audio.decode_failed]")
    assert (await catalogue.jobs.stats()).failed == 1


async def test_heartbeats_list_live_workers_and_forget_stopped_ones(
    catalogue: Catalogue,
) -> None:
    worker = AnalysisWorker(catalogue.jobs, catalogue.tracks, catalogue.media, mode="redis")
    await worker.start()
    (seen,) = await catalogue.jobs.workers(seen_within=alive_window())
    assert (seen.worker_id, seen.mode, seen.processed) == (worker.worker_id, "redis", 0)
    assert await catalogue.jobs.workers(seen_within=dt.timedelta(0)) == []
    await worker.stop()
    assert await catalogue.jobs.workers(seen_within=alive_window()) == []


async def test_a_training_job_without_events_fails_once_and_says_why(
    catalogue: Catalogue, tmp_path: Path
) -> None:
    from backbeat.catalogue import Trainer
    from backbeat.recommend import ModelRegistry

    trainer = Trainer(catalogue.training, catalogue.events, ModelRegistry(tmp_path / "models"))
    job, created = await catalogue.training.request(
        "recommendation", {"model": "item_cooccurrence"}, promote=True, requested_by="test"
    )
    assert created
    again, created_again = await catalogue.training.request(
        "recommendation", {"model": "als"}, promote=True, requested_by="t", unless_pending=True
    )
    assert (again.id, created_again) == (job.id, False)  # one pending job per model
    worker = AnalysisWorker(catalogue.jobs, catalogue.tracks, catalogue.media, training=trainer)
    assert await worker.run_once()  # no analysis due: the training job is taken
    done = await catalogue.training.get(job.id)
    assert done is not None
    assert (done.status, done.error_code, done.attempts) == ("failed", "recommend.no_events", 1)
    assert not await worker.run_once()  # not retried: nothing left to do
