"""Alert lifecycles, routing and delivery to a real local receiver; the system monitor."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pytest

from backbeat.monitoring import (
    AlertBook,
    AlertSpec,
    MonitoringConfigError,
    ServiceMetrics,
    SystemMonitor,
    create_system_monitor,
    parse_routing,
    parse_slos,
)
from backbeat.settings import Settings
from tests.monitoring.conftest import Receiver

pytestmark = pytest.mark.anyio

NOON = dt.datetime(2026, 12, 3, 12, 0, tzinfo=dt.UTC).timestamp()


def _routing(url: str, **timings: str) -> Any:
    return parse_routing(
        {
            "receivers": [
                {"name": "emea", "type": "pagerduty", "routing_key": "k-emea", "url": f"{url}/pd"},
                {"name": "amer", "type": "pagerduty", "routing_key": "k-amer", "url": f"{url}/pd"},
                {"name": "chat", "type": "slack", "url": f"{url}/slack", "channel": "#ops"},
                {"name": "hook", "type": "webhook", "url": f"{url}/hook"},
            ],
            "escalation": {
                "policy": "follow_sun",
                "shifts": [
                    {"receiver": "emea", "from": "06:00", "to": "18:00"},
                    {"receiver": "amer", "from": "18:00", "to": "06:00"},
                ],
                "ack_timeout_minutes": 10,
                "escalate_to": "chat",
                "tickets": "chat",
                "always": ["hook"],
            },
            "alertmanager": {"group_wait": "30s", "group_interval": "1m", **timings},
        }
    )


PAGE = AlertSpec({"alertname": "X", "severity": "page", "slo": "api"}, {"summary": "api burns"})


def test_follow_the_sun_group_wait_dedup_resolve() -> None:
    book = AlertBook(_routing("http://x"))
    assert book.observe([PAGE], NOON) == []  # group_wait
    first = book.observe([PAGE], NOON + 30)
    assert sorted(n.receiver for n in first) == ["emea", "hook"]
    assert book.observe([PAGE], NOON + 60) == []  # unchanged: no repeat before 4 h
    night = AlertBook(_routing("http://x"))
    night.observe([PAGE], NOON + 8 * 3600)
    assert {n.receiver for n in night.observe([PAGE], NOON + 8 * 3600 + 30)} == {"amer", "hook"}
    resolved = book.observe([], NOON + 120)
    assert {(n.receiver, n.status) for n in resolved} == {
        ("emea", "resolved"),
        ("hook", "resolved"),
    }
    assert book.active == {}


def test_silences_and_acknowledgement_stop_notifications_and_escalation() -> None:
    book = AlertBook(_routing("http://x"))
    book.observe([PAGE], NOON)
    book.observe([PAGE], NOON + 30)
    escalated = book.observe([PAGE], NOON + 30 + 600)
    assert [(n.receiver, n.escalation) for n in escalated] == [("chat", True)]
    assert book.observe([PAGE], NOON + 2000) == []  # escalated once
    other = AlertBook(_routing("http://x"))
    other.observe([PAGE], NOON)
    other.observe([PAGE], NOON + 30)
    assert other.acknowledge(PAGE.fingerprint)
    assert other.observe([PAGE], NOON + 30 + 600) == []
    from backbeat.monitoring import Silence

    quiet = AlertBook(_routing("http://x"))
    quiet.silences["s"] = Silence.new({"slo": "api"}, 3600, NOON)
    quiet.observe([PAGE], NOON)
    assert quiet.observe([PAGE], NOON + 30) == []
    assert quiet.active[PAGE.fingerprint].silenced


def test_bad_routing_is_named() -> None:
    cases = [
        ({"receivers": [{"name": "a", "type": "teams", "url": "http://x"}]}, "unknown channel"),
        ({"receivers": [{"name": "a", "type": "pagerduty"}]}, "routing_key"),
        ({"receivers": [{"name": "a", "type": "slack", "url": "ftp://x"}]}, "http(s) URL"),
        (
            {
                "receivers": [{"name": "a", "type": "webhook", "url": "http://x"}],
                "escalation": {
                    "policy": "follow_sun",
                    "shifts": [{"receiver": "a", "from": "00:00", "to": "12:00"}],
                },
            },
            "no shift covers 12:00",
        ),
        ({"escalation": {"tickets": "nobody"}}, "no receiver is called 'nobody'"),
    ]
    for raw, words in cases:
        with pytest.raises(MonitoringConfigError) as raised:
            parse_routing(raw, source="mon.yml")
        assert words in raised.value.message
        assert "mon.yml" in raised.value.message


def test_bad_slos_are_named() -> None:
    cases = [
        ({"slos": [{"name": "a", "kind": "speed", "objective": 0.9}]}, "slos[0].kind"),
        ({"slos": [{"name": "a", "kind": "availability", "objective": 1.5}]}, "slos[0].objective"),
        (
            {"slos": [{"name": "a", "kind": "latency", "objective": 0.9, "threshold_ms": 42}]},
            "not a histogram bucket boundary",
        ),
        (
            {"slos": [{"name": "a", "kind": "availability", "objective": 0.9, "routes": "("}]},
            "routes",
        ),
        (
            {"burn_alerts": [{"severity": "page", "factor": 2, "long": "5m", "short": "1h"}]},
            "shorter",
        ),
        (
            {"burn_alerts": [{"severity": "page", "factor": 2, "long": "an hour", "short": "5m"}]},
            "duration",
        ),
    ]
    for raw, words in cases:
        with pytest.raises(MonitoringConfigError) as raised:
            parse_slos(raw, source="mon.yml")
        assert words in raised.value.message, raised.value.message


async def test_delivery_to_each_receiver_type_with_retries(receiver: Receiver) -> None:
    metrics = ServiceMetrics()
    monitor = SystemMonitor(
        metrics,
        slos=parse_slos(
            {
                "slos": [{"name": "api", "kind": "availability", "objective": 0.99}],
                "burn_alerts": [{"severity": "page", "factor": 2, "long": "1m", "short": "30s"}],
            }
        ),
        routing=_routing(receiver.url, group_wait="1s", group_interval="1s"),
    )
    monitor.dispatcher.backoff_s = 0.01
    receiver.fail_next = 1  # the first delivery is refused once, then retried
    for _ in range(50):
        metrics.requests.labels("/v1/x", "GET", "200").inc()
    await monitor.evaluate(NOON)
    for _ in range(50):
        metrics.requests.labels("/v1/x", "GET", "503").inc()
    assert await monitor.evaluate(NOON + 20)  # 50% bad > 2 x 1%: firing
    await monitor.evaluate(NOON + 22)  # after group_wait: notified
    await asyncio.wait_for(monitor.dispatcher.drain(), 10)
    pd = receiver.bodies("/pd")
    assert pd[0]["event_action"] == "trigger"
    assert pd[0]["routing_key"] == "k-emea"
    assert pd[0]["payload"]["severity"] == "critical"
    hook = receiver.bodies("/hook")
    assert hook[0]["version"] == "4"
    assert hook[0]["status"] == "firing"
    assert hook[0]["alerts"][0]["labels"]["slo"] == "api"
    assert monitor.dispatcher.retried == 1
    report = monitor.slo_report()[0]
    assert report["burn_rates"]["30s"] == pytest.approx(100.0)  # 100% bad in the last 30 s
    for _ in range(5000):
        metrics.requests.labels("/v1/x", "GET", "200").inc()
    assert await monitor.evaluate(NOON + 120) == []  # the short window is clean: resolved
    await asyncio.wait_for(monitor.dispatcher.drain(), 10)
    assert receiver.bodies("/pd")[-1]["event_action"] == "resolve"
    assert receiver.bodies("/hook")[-1]["status"] == "resolved"
    assert 'backbeat_alert_notifications_total{outcome="sent",receiver="pagerduty"}' in (
        metrics.exposition().decode()
    )
    await monitor.aclose()


async def test_an_unreachable_receiver_is_retried_counted_and_never_blocks() -> None:
    routing = parse_routing(
        {
            "receivers": [{"name": "gone", "type": "webhook", "url": "http://127.0.0.1:9/x"}],
            "alertmanager": {"group_wait": "1s"},
        }
    )
    monitor = SystemMonitor(ServiceMetrics(), routing=routing)
    monitor.dispatcher.backoff_s = 0.01
    spec = AlertSpec({"alertname": "Y", "severity": "page", "slo": "s"})
    monitor.book.observe([spec], NOON)
    loop = asyncio.get_running_loop()
    started = loop.time()
    for note in monitor.book.observe([spec], NOON + 5):
        monitor.dispatcher.submit(note)
    assert loop.time() - started < 0.05  # submit does not wait for the network
    await asyncio.wait_for(monitor.dispatcher.drain(), 10)
    assert monitor.dispatcher.failed == 1
    assert monitor.dispatcher.retried == monitor.dispatcher.attempts - 1
    await monitor.aclose()


async def test_smart_alerts_threshold_and_forecast(receiver: Receiver) -> None:
    monitor = SystemMonitor(ServiceMetrics(), routing=_routing(receiver.url), interval_s=60)
    with pytest.raises(MonitoringConfigError, match="unknown channel 'sms'"):
        await monitor.configure_smart_alerts({"alert_channels": ["sms"]})
    with pytest.raises(MonitoringConfigError, match="unknown setting"):
        await monitor.configure_smart_alerts({"turbo": True})
    with pytest.raises(MonitoringConfigError, match="quality_score"):
        await monitor.track_session(user_id="u", processing_time_ms=5, quality_score=3)
    await monitor.configure_smart_alerts(
        {
            "audio_latency_threshold_ms": 100,
            "prediction_window_minutes": 15,
            "alert_channels": ["slack", "pagerduty"],
            "escalation_policy": "follow_sun",
            "confidence": 0.8,
        }
    )
    monitor.features = {"predictive_alerting"}
    forecast_at = crossed_at = None
    for step in range(45):  # p95 climbs ~2.5 ms a minute from 25 ms: above 100 ms near 30
        for i in range(20):
            ms = (20 + 2 * step) * (0.7 + 0.03 * i)
            await monitor.track_session(user_id="u1", processing_time_ms=ms, quality_score=0.9)
        names = {a["labels"]["alertname"] for a in await monitor.evaluate(NOON + 60 * step)}
        if forecast_at is None and "BackbeatAudioLatencyForecast" in names:
            forecast_at = step
        if crossed_at is None and "BackbeatAudioLatencyHigh" in names:
            crossed_at = step
    assert forecast_at is not None
    assert crossed_at is not None
    assert forecast_at < crossed_at  # the forecast warned before the threshold was crossed
    for _ in range(20):
        await monitor.track_session(user_id="u1", processing_time_ms=400)
    active = await monitor.evaluate(NOON + 60 * 41)
    assert "BackbeatAudioLatencyHigh" in {a["labels"]["alertname"] for a in active}
    assert "u1" not in monitor.metrics.exposition().decode()  # never a user as a label
    await monitor.aclose()


async def test_the_seed_calls_and_settings(tmp_path: Any, receiver: Receiver) -> None:
    config = tmp_path / "monitoring.yml"
    config.write_text(
        f"receivers:\n  - {{name: hook, type: webhook, url: '{receiver.url}/hook'}}\n"
        "slos:\n  - {name: api, kind: availability, objective: 0.999}\n"
    )
    settings = Settings.from_env(
        {"BACKBEAT_DATA_DIR": str(tmp_path), "BACKBEAT_MONITORING_FILE": str(config)}
    )
    monitor = create_system_monitor(settings)
    started = await monitor.start_advanced_monitoring(
        {
            "prometheus_metrics": True,
            "ml_anomaly_detection": True,
            "predictive_alerting": True,
            "sla_tracking": True,
        }
    )
    assert started["slos"] == ["api"]
    with pytest.raises(MonitoringConfigError, match="needs its shifts"):
        await monitor.configure_smart_alerts({"escalation_policy": "follow_sun"})
    with pytest.raises(MonitoringConfigError, match="no slack receiver"):
        await monitor.configure_smart_alerts({"alert_channels": ["slack"]})
    with pytest.raises(MonitoringConfigError, match="unknown feature"):
        await monitor.start_advanced_monitoring({"telepathy": True})
    await monitor.track_metrics(latency_ms=35, bitrate=160, quality_score=0.8)
    text = monitor.metrics.exposition().decode()
    assert "backbeat_stream_bitrate_kbps_count 1.0" in text
    await monitor.aclose()
    bad = tmp_path / "bad.yml"
    bad.write_text("slos:\n  - name: a\n    kind: [\n")
    with pytest.raises(MonitoringConfigError) as raised:
        create_system_monitor(
            Settings.from_env(
                {"BACKBEAT_DATA_DIR": str(tmp_path), "BACKBEAT_MONITORING_FILE": str(bad)}
            )
        )
    assert "bad.yml" in raised.value.message
    assert "line" in raised.value.message


async def test_alerts_go_to_an_alertmanager_api(receiver: Receiver) -> None:
    metrics = ServiceMetrics()
    monitor = SystemMonitor(
        metrics,
        slos=parse_slos(
            {
                "slos": [{"name": "api", "kind": "availability", "objective": 0.99}],
                "burn_alerts": [{"severity": "ticket", "factor": 2, "long": "1m", "short": "30s"}],
            }
        ),
        alertmanager_url=receiver.url + "/",
    )
    metrics.requests.labels("/v1/x", "GET", "200").inc(10)
    await monitor.evaluate(NOON)
    metrics.requests.labels("/v1/x", "GET", "502").inc(10)
    await monitor.evaluate(NOON + 10)
    metrics.requests.labels("/v1/x", "GET", "200").inc(10_000)
    await monitor.evaluate(NOON + 100)
    await asyncio.wait_for(monitor.dispatcher.drain(), 10)
    posted = receiver.bodies("/api/v2/alerts")
    assert posted[0][0]["labels"] == {
        "alertname": "BackbeatSloBurnRate",
        "severity": "ticket",
        "slo": "api",
    }
    assert "endsAt" not in posted[0][0]
    assert posted[-1][0]["endsAt"].endswith("Z")  # the resolution
    await monitor.aclose()


def test_the_toolkit_serves_the_seed_keys(tmp_path: Any) -> None:
    from backbeat.toolkit import Toolkit

    tk = Toolkit(Settings.from_env({"BACKBEAT_DATA_DIR": str(tmp_path)}))
    assert isinstance(tk["performance_monitor"], SystemMonitor)
    assert tk["qos_manager"] is tk.streaming  # its track_metrics records into the monitor


def test_ewma_and_cusum_see_what_they_are_for() -> None:
    import numpy as np

    from backbeat.monitoring import Cusum, Ewma, score_series

    rng = np.random.default_rng(5)
    shift = np.concatenate([rng.normal(0, 1, 500), rng.normal(1.5, 1, 300)])  # small level shift
    cusum = score_series(Cusum(), shift)
    assert cusum[:500].max() < 1.0
    first = int(np.argmax(cusum >= 1.0))
    assert 500 <= first < 540  # declared within 40 points of the change, none before
    spike = rng.normal(0, 1, 600)
    spike[400] = 12
    ewma = score_series(Ewma(), spike)
    assert int(np.argmax(ewma)) == 400
