from __future__ import annotations

from pathlib import Path

import pytest

from backbeat import Settings, Toolkit
from backbeat._health import redact_url
from backbeat.errors import ConfigurationError

pytestmark = pytest.mark.anyio


def settings(tmp_path: Path, **env: str) -> Settings:
    return Settings.from_env({"BACKBEAT_DATA_DIR": str(tmp_path), **env})


async def test_embedded_default_reports_a_healthy_sqlite(tmp_path: Path) -> None:
    async with Toolkit(settings(tmp_path)) as tk:
        report = await tk.health()
    assert report.status == "ok"
    (db,) = report.backends
    assert (db.name, db.kind, db.status) == ("database", "sqlite", "ok")
    assert db.latency_ms is not None
    assert (tmp_path / "backbeat.db").exists()


async def test_unreachable_redis_makes_the_report_degraded(tmp_path: Path) -> None:
    # Port 1 on loopback: nothing listens there.
    tk = Toolkit(settings(tmp_path, REDIS_URL="redis://:hunter2@127.0.0.1:1/0"))
    async with tk:
        report = await tk.health()
    assert report.status == "degraded"
    redis = next(b for b in report.backends if b.name == "redis")
    assert redis.status == "down"
    assert redis.error
    assert "hunter2" not in str(report.to_dict())


async def test_from_env_reads_the_given_mapping(tmp_path: Path) -> None:
    async with Toolkit.from_env({"BACKBEAT_DATA_DIR": str(tmp_path), "LOG_LEVEL": "ERROR"}) as tk:
        assert tk.settings.log_level == "ERROR"


async def test_redis_client_without_redis_url_is_a_configuration_error(tmp_path: Path) -> None:
    async with Toolkit(settings(tmp_path)) as tk:
        with pytest.raises(ConfigurationError) as info:
            tk.redis_client()
    assert info.value.code == "config.redis_not_configured"


async def test_aclose_is_idempotent(tmp_path: Path) -> None:
    tk = Toolkit(settings(tmp_path))
    await tk.health()
    await tk.aclose()
    await tk.aclose()


def test_redact_url_masks_only_the_password() -> None:
    assert redact_url("redis://:pw@h:6379/0") == "redis://:***@h:6379/0"
    assert redact_url("postgresql://u:pw@db/x") == "postgresql://u:***@db/x"
    assert redact_url("postgresql://u@db/x") == "postgresql://u@db/x"


async def test_audit_trail_follows_enable_audit_logs(tmp_path: Path) -> None:
    from backbeat.audit import get_default_trail

    async with Toolkit(settings(tmp_path, ENABLE_AUDIT_LOGS="false")) as tk:
        await tk.migrate()
        assert tk.audit.enabled is False
        assert get_default_trail() is tk.audit
    assert get_default_trail() is None  # closing the toolkit unsets its default
    async with Toolkit(settings(tmp_path)) as tk:
        assert tk.audit.enabled is True
        assert (tmp_path / "audit.keys").exists()


async def test_entering_a_toolkit_makes_its_trail_the_default_for_audited(
    tmp_path: Path,
) -> None:
    from backbeat.audit import audited

    @audited("track.fetch", resource="track:{track_id}")
    async def fetch(track_id: str) -> str:
        return track_id

    @audited("track.touch")
    def touch() -> None:
        return None

    async with Toolkit(settings(tmp_path)) as tk:
        await tk.migrate()
        # Nothing here touches tk.audit before the decorated calls.
        await fetch("4uLU6hMCjMI75M1A2tKUQC")
        touch()
        await tk.audit.flush()
        events = await tk.audit.query()
    assert [(e.action, e.outcome) for e in events] == [
        ("track.fetch", "success"),
        ("track.touch", "success"),
    ]
    assert events[0].resource == "track:4uLU6hMCjMI75M1A2tKUQC"


async def test_an_unmigrated_database_refuses_the_first_audited_write_clearly(
    tmp_path: Path,
) -> None:
    from backbeat.audit import audited
    from backbeat.errors import Unavailable

    @audited("track.fetch")
    async def fetch() -> None:
        return None

    async with Toolkit(settings(tmp_path)):
        with pytest.raises(Unavailable) as raised:
            await fetch()
    assert raised.value.code == "audit.not_migrated"
    assert "backbeat db upgrade" in raised.value.message


async def test_the_seed_suite_is_the_toolkit_with_its_keys(tmp_path: Path) -> None:
    from backbeat import create_enterprise_utils_suite
    from backbeat.audio import AudioProcessor
    from backbeat.recommend import (
        ALS,
        InteractionMatrix,
        ModelManager,
        RecommendationEngine,
        synthetic_log,
    )
    from tests.catalogue.test_media import _wav

    suite = create_enterprise_utils_suite(
        {"data_dir": tmp_path, "ml_enabled": True, "streaming_optimized": True}
    )
    assert isinstance(suite, Toolkit)
    async with suite:
        assert isinstance(suite["audio_processor"], AudioProcessor)
        assert isinstance(suite["model_manager"], ModelManager)
        assert isinstance(suite["recommendation_engine"], RecommendationEngine)
        assert suite["cache_manager"] is suite.cache
        (tmp_path / "a.wav").write_bytes(_wav())
        features = await suite["audio_processor"].extract_features(tmp_path / "a.wav")
        assert 0 <= features["danceability"] <= 1
        # What `backbeat recommend train` writes is what the engine serves.
        log = synthetic_log(n_users=80, n_items=120, seed=1)
        registry = suite.model_registry()
        first = registry.register(
            "recommendation", ALS(factors=8, iterations=3).fit(InteractionMatrix.build(log.events))
        )
        model = await suite["model_manager"].get_model("recommendation")
        assert model.item_list
        user = log.events[0].user
        assert len(await suite["recommendation_engine"].recommend(user, 5)) == 5
        registry.promote("recommendation", first.version)
        version, _ = await suite["recommendation_engine"].model()
        assert version.version == first.version


def test_the_suite_refuses_unknown_keys_and_options(tmp_path: Path) -> None:
    from backbeat import create_enterprise_utils_suite

    with pytest.raises(ConfigurationError) as raised:
        create_enterprise_utils_suite({"data_dir": tmp_path, "turbo": True})
    assert "turbo" in raised.value.message
    suite = create_enterprise_utils_suite({"data_dir": tmp_path})
    with pytest.raises(ConfigurationError) as missing:
        suite["media_transcoder"]
    assert "audio_processor" in missing.value.message
    assert "stream_processor" in missing.value.message
