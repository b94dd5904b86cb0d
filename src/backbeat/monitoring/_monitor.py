"""The system monitor: the seed's API over the metrics, the SLOs, the embedded
evaluator and alert delivery.

``create_system_monitor()`` builds one from settings (``BACKBEAT_MONITORING_FILE`` for
SLOs, receivers and escalation; ``ALERTMANAGER_URL``). ``start_advanced_monitoring``
starts the evaluator: every ``interval_s`` it reads the service's counters (all
processes' in multiprocess mode), computes each SLO's burn rates over its alert windows
and evaluates the alert rules that Prometheus would evaluate from the generated rules
(same definitions), plus the smart alerts (a latency threshold on tracked sessions, a
forecast crossing it within ``prediction_window_minutes``, anomalies in traffic and
errors). Under several processes one of them holds a lock file and evaluates; the
others read its state file, and silences and acknowledgements go through files beside it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from backbeat.monitoring._alerting import AlertBook, AlertSpec, Dispatcher, Post, Silence
from backbeat.monitoring._detect import DEFAULT_THRESHOLD, AnomalyDetector
from backbeat.monitoring._errors import config_error
from backbeat.monitoring._forecast import Holt
from backbeat.monitoring._metrics import ServiceMetrics, Snapshot
from backbeat.monitoring._routing import RECEIVER_TYPES, Routing, parse_routing
from backbeat.monitoring._samples import SloSamples, histogram_quantile, slo_counts
from backbeat.monitoring._slo import DEFAULT_SLOS, Slo, format_duration, load_config, parse_slos

__all__ = ["FEATURES", "SystemMonitor", "create_system_monitor"]

log = logging.getLogger("backbeat.monitoring")

FEATURES = ("prometheus_metrics", "ml_anomaly_detection", "predictive_alerting", "sla_tracking")
SMART_KEYS = {
    "audio_latency_threshold_ms",
    "prediction_window_minutes",
    "alert_channels",
    "escalation_policy",
    "confidence",
}


class SystemMonitor:
    """See the module's text. All public coroutines are safe to call from request handlers."""

    def __init__(
        self,
        metrics: ServiceMetrics | None = None,
        *,
        slos: tuple[Slo, ...] = DEFAULT_SLOS,
        routing: Routing | None = None,
        state_dir: Path | None = None,
        alertmanager_url: str | None = None,
        interval_s: float = 15.0,
        post: Post | None = None,
        clock: Any = time.time,
    ) -> None:
        self.metrics = metrics if metrics is not None else ServiceMetrics()
        self.slos = slos
        self.routing = routing if routing is not None else Routing()
        self.state_dir = state_dir
        self.alertmanager_url = alertmanager_url
        self.interval_s = interval_s
        self.clock = clock
        self.features: set[str] = set()
        self.book = AlertBook(self.routing)
        self.dispatcher = Dispatcher(
            self.routing,
            post=post,
            on_outcome=lambda kind, outcome: self.metrics.alert_notifications.labels(
                kind, outcome
            ).inc(),
        )
        horizon = max(max(a.long_s for a in s.alerts) for s in slos) if slos else 3600.0
        self._samples = {s.name: SloSamples(horizon) for s in slos}
        self.smart: dict[str, Any] = {}
        self._holt = Holt()
        self._latency_seen: list[tuple[float, float]] | None = None
        self._latency_p95: float | None = None
        self._detectors: dict[str, AnomalyDetector] = {}
        self._anomaly_hold: dict[str, int] = {}
        self._prev_traffic: tuple[float, float, float] | None = None
        self._task: asyncio.Task[None] | None = None
        self._lock_handle: Any = None
        self._acks: set[str] = set()
        self.last_evaluation: float | None = None

    # the seed's API -------------------------------------------------------------------
    async def start_advanced_monitoring(
        self, features: Mapping[str, bool] | Iterable[str] | None = None
    ) -> dict[str, Any]:
        """Turn features on (all four by default) and start the evaluator task."""
        if features is None:
            wanted = set(FEATURES)
        elif isinstance(features, Mapping):
            wanted = {k for k, v in features.items() if v}
            names: Iterable[str] = features.keys()
        else:
            wanted = set(features)
            names = wanted
        if features is not None:
            for name in names:
                if name not in FEATURES:
                    raise config_error(
                        "start_advanced_monitoring",
                        repr(name),
                        f"unknown feature (one of {', '.join(FEATURES)})",
                    )
        self.features = wanted
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(
                self._loop(), name="backbeat-monitor"
            )
        return {"features": sorted(self.features), "slos": [s.name for s in self.slos]}

    async def configure_smart_alerts(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """The seed's smart alerts; every key is checked, channels against the receivers."""
        where = "configure_smart_alerts"
        unknown = set(config) - SMART_KEYS
        if unknown:
            raise config_error(where, ", ".join(sorted(unknown)), "unknown setting")
        smart = dict(self.smart)
        if "audio_latency_threshold_ms" in config:
            v = config["audio_latency_threshold_ms"]
            if isinstance(v, bool) or not isinstance(v, int | float) or v <= 0:
                raise config_error(where, "audio_latency_threshold_ms", f"{v!r} is not > 0")
            smart["threshold_s"] = float(v) / 1000.0
        if "prediction_window_minutes" in config:
            v = config["prediction_window_minutes"]
            if isinstance(v, bool) or not isinstance(v, int | float) or not 0 < v <= 1440:
                raise config_error(where, "prediction_window_minutes", f"{v!r} is not in (0, 1440]")
            smart["horizon_s"] = float(v) * 60.0
        if "confidence" in config:
            v = config["confidence"]
            if isinstance(v, bool) or not isinstance(v, int | float) or not 0.5 < v < 1:
                raise config_error(where, "confidence", f"{v!r} is not in (0.5, 1)")
            smart["confidence"] = float(v)
        if "alert_channels" in config:
            channels = config["alert_channels"]
            if isinstance(channels, str) or not isinstance(channels, list | tuple):
                raise config_error(where, "alert_channels", "expected a list such as ['slack']")
            for c in channels:
                if c not in RECEIVER_TYPES:
                    raise config_error(
                        where,
                        "alert_channels",
                        f"unknown channel {c!r} (one of {', '.join(RECEIVER_TYPES)})",
                    )
                if not any(r.type == c for r in self.routing.receivers.values()):
                    raise config_error(
                        where,
                        "alert_channels",
                        f"no {c} receiver is configured (declare one in BACKBEAT_MONITORING_FILE)",
                    )
            smart["channels"] = list(channels)
        if "escalation_policy" in config:
            policy = config["escalation_policy"]
            if policy not in ("follow_sun", "single"):
                raise config_error(
                    where, "escalation_policy", f"{policy!r} is not follow_sun or single"
                )
            if policy != self.routing.escalation.policy:
                raise config_error(
                    where,
                    "escalation_policy",
                    f"{policy} needs its shifts in BACKBEAT_MONITORING_FILE "
                    f"(configured: {self.routing.escalation.policy})",
                )
            smart["escalation_policy"] = policy
        self.smart = smart
        return {k: v for k, v in smart.items()}

    async def track_session(
        self, user_id: str, processing_time_ms: float, quality_score: float | None = None
    ) -> None:
        """One user session's processing time and quality (the user is never a label)."""
        if not math.isfinite(processing_time_ms) or processing_time_ms < 0:
            raise config_error(
                "track_session", "processing_time_ms", f"{processing_time_ms!r} is not >= 0"
            )
        self.metrics.session_processing.observe(processing_time_ms / 1000.0)
        if quality_score is not None:
            self._quality(quality_score, "track_session")
            self.metrics.session_quality.observe(quality_score)

    async def track_metrics(
        self, latency_ms: float, bitrate: float, quality_score: float | None = None
    ) -> None:
        """One playback sample: latency, bitrate (kbit/s) and perceived quality (0-1)."""
        if not math.isfinite(latency_ms) or latency_ms < 0:
            raise config_error("track_metrics", "latency_ms", f"{latency_ms!r} is not >= 0")
        if not math.isfinite(bitrate) or bitrate < 0:
            raise config_error("track_metrics", "bitrate", f"{bitrate!r} is not >= 0")
        self.metrics.stream_latency.observe(latency_ms / 1000.0)
        self.metrics.stream_bitrate.observe(bitrate)
        if quality_score is not None:
            self._quality(quality_score, "track_metrics")
            self.metrics.session_quality.observe(quality_score)

    @staticmethod
    def _quality(value: float, where: str) -> None:
        if not isinstance(value, int | float) or not 0 <= value <= 1:
            raise config_error(where, "quality_score", f"{value!r} is not in [0, 1]")

    # evaluation -------------------------------------------------------------------------
    def slo_report(self) -> list[dict[str, Any]]:
        """Objectives, burn rates per alert window, budget left over what has been seen."""
        out = []
        for slo in self.slos:
            samples = self._samples[slo.name]
            windows = sorted({a.long_s for a in slo.alerts} | {a.short_s for a in slo.alerts})
            burn = {}
            for w in windows:
                ratio = samples.ratio(w)
                burn[format_duration(w)] = None if ratio is None else round(ratio / slo.budget, 4)
            seen = samples.ratio(slo.window_days * 86400.0)
            out.append(
                {
                    **slo.to_dict(),
                    "error_ratio": seen,
                    "budget_remaining": None if seen is None else round(1 - seen / slo.budget, 4),
                    "burn_rates": burn,
                }
            )
        return out

    def _slo_specs(self) -> list[AlertSpec]:
        specs = []
        for slo in self.slos:
            samples = self._samples[slo.name]
            for severity in ("page", "ticket"):
                hits = []
                for a in slo.alerts:
                    if a.severity != severity:
                        continue
                    lo, sh = samples.ratio(a.long_s), samples.ratio(a.short_s)
                    limit = a.factor * slo.budget
                    if lo is not None and sh is not None and lo > limit and sh > limit:
                        long_w, short_w = format_duration(a.long_s), format_duration(a.short_s)
                        hits.append(f"{a.factor:g}x over {long_w}/{short_w}")
                if hits:
                    specs.append(
                        AlertSpec(
                            {
                                "alertname": "BackbeatSloBurnRate",
                                "severity": severity,
                                "slo": slo.name,
                            },
                            {
                                "summary": f"SLO {slo.name} burns its error budget ({severity})",
                                "description": "burn above " + ", ".join(hits),
                            },
                        )
                    )
        return specs

    def _latency_specs(self, snap: Snapshot) -> list[AlertSpec]:
        threshold = self.smart.get("threshold_s")
        buckets = [
            (float(labels["le"]), value)
            for labels, value in snap.get("backbeat_session_processing_seconds_bucket", [])
        ]
        previous, self._latency_seen = self._latency_seen, buckets
        if previous is not None:
            before = dict(previous)
            delta = [(le, c - before.get(le, 0.0)) for le, c in buckets]
            p95 = histogram_quantile(delta, 0.95)
            if p95 is not None:
                self._latency_p95 = p95
                self._holt.update(p95)
        if threshold is None or self._latency_p95 is None:
            return []
        specs = []
        ms = threshold * 1000
        if self._latency_p95 > threshold:
            specs.append(
                AlertSpec(
                    {
                        "alertname": "BackbeatAudioLatencyHigh",
                        "severity": "page",
                        "slo": "audio-latency",
                    },
                    {"summary": f"p95 processing {self._latency_p95 * 1000:.0f} ms > {ms:g} ms"},
                )
            )
        elif "predictive_alerting" in self.features and "horizon_s" in self.smart:
            steps = max(1, round(self.smart["horizon_s"] / self.interval_s))
            # P(value > threshold) >= confidence: the one-sided lower bound, which is the
            # lower end of a two-sided interval of 2c - 1.
            confidence = self.smart.get("confidence", 0.8)
            forecast = self._holt.forecast(steps, 2 * confidence - 1)
            if forecast is not None and forecast.lower > threshold:
                specs.append(
                    AlertSpec(
                        {
                            "alertname": "BackbeatAudioLatencyForecast",
                            "severity": "ticket",
                            "slo": "audio-latency",
                        },
                        {
                            "summary": (
                                f"p95 processing time forecast to exceed {ms:g} ms within "
                                f"{self.smart['horizon_s'] / 60:g} min "
                                f"(forecast {forecast.mean * 1000:.0f} ms, lower bound "
                                f"{forecast.lower * 1000:.0f} ms)"
                            )
                        },
                    )
                )
        return specs

    def _anomaly_specs(self, snap: Snapshot, now: float) -> list[AlertSpec]:
        total = bad = 0.0
        for labels, value in snap.get("backbeat_http_requests_total", []):
            total += value
            if labels.get("status", "").startswith("5"):
                bad += value
        specs: list[AlertSpec] = []
        previous, self._prev_traffic = self._prev_traffic, (now, total, bad)
        if previous is None or now <= previous[0] or total < previous[1]:
            return specs
        dt_s = now - previous[0]
        rate = (total - previous[1]) / dt_s
        errors = (bad - previous[2]) / max(total - previous[1], 1.0)
        for name, value in (("request_rate", rate), ("error_ratio", errors)):
            detector = self._detectors.setdefault(name, AnomalyDetector())
            score = detector.update(value, now)
            if score >= DEFAULT_THRESHOLD:
                self._anomaly_hold[name] = 20  # ticks the alert stays up without new evidence
            hold = self._anomaly_hold.get(name, 0)
            if hold > 0:
                self._anomaly_hold[name] = hold - 1
                specs.append(
                    AlertSpec(
                        {"alertname": "BackbeatMetricAnomaly", "severity": "ticket", "slo": name},
                        {"summary": f"unusual {name.replace('_', ' ')} ({value:.4g})"},
                    )
                )
        return specs

    async def evaluate(self, now: float | None = None) -> list[dict[str, Any]]:
        """One tick; returns the active alerts. Delivery happens in the background."""
        now = self.clock() if now is None else now
        self._read_shared(now)
        # One collection per tick (in multiprocess mode it reads every process's files),
        # in a thread: the evaluator shares the event loop with requests.
        snap = await asyncio.to_thread(self.metrics.snapshot)
        for slo in self.slos:
            self._samples[slo.name].add(now, *slo_counts(slo, snap))
        specs: list[AlertSpec] = []
        if not self.features or "sla_tracking" in self.features:
            specs += self._slo_specs()
        specs += self._latency_specs(snap)
        if "ml_anomaly_detection" in self.features:
            specs += self._anomaly_specs(snap, now)
        for note in self.book.observe(specs, now):
            self.dispatcher.submit(note)
        if self.alertmanager_url:
            current = [a.to_dict() for a in self.book.active.values()]
            current += [a.to_dict() for a in self.book.resolved if a.ends_at == now]
            if current:
                self.dispatcher.submit_alertmanager(self.alertmanager_url, current)
        self.last_evaluation = now
        self._write_state(now)
        return [a.to_dict() for a in self.book.active.values()]

    def alerts_report(self) -> dict[str, Any]:
        return {
            "alerts": [a.to_dict() for a in self.book.active.values()],
            "recently_resolved": [a.to_dict() for a in self.book.resolved[:20]],
            "silences": [s.to_dict() for s in self.book.silences.values()],
            "receivers": [r.describe() for r in self.routing.receivers.values()],
            "evaluated_at": self.last_evaluation,
        }

    # silences and acknowledgements ------------------------------------------------------
    def add_silence(
        self, matchers: Mapping[str, str], duration_s: float, *, by: str = "", comment: str = ""
    ) -> Silence:
        if not matchers:
            raise config_error("silence", "matchers", "a silence needs at least one label matcher")
        if not 0 < duration_s <= 30 * 86400:
            raise config_error("silence", "duration", f"{duration_s!r} s is not in (0, 30 days]")
        silence = Silence.new(matchers, duration_s, self.clock(), by, comment)
        with self._shared():
            self.book.silences[silence.id] = silence
        return silence

    def expire_silence(self, silence_id: str) -> bool:
        with self._shared():
            return self.book.silences.pop(silence_id, None) is not None

    def acknowledge(self, fingerprint: str) -> bool:
        """Acknowledge a firing page (stops its escalation); False when none has it."""
        known = fingerprint in {a["fingerprint"] for a in self.current_report()["alerts"]}
        if known:
            with self._shared():
                self._acks.add(fingerprint)
            self.book.acknowledge(fingerprint)
        return known

    def current_report(self) -> dict[str, Any]:
        """This process's report when it evaluates, else the evaluating process's."""
        if self.last_evaluation is None:
            shared = self.shared_report()
            if shared is not None:
                return shared
        return {"slo": self.slo_report(), **self.alerts_report()}

    # sharing between processes ------------------------------------------------------------
    def _path(self, name: str) -> Path | None:
        return self.state_dir / name if self.state_dir is not None else None

    @contextlib.contextmanager
    def _shared(self) -> Iterator[None]:
        """Read-modify-write of the silences and acknowledgements, locked across processes."""
        path = self._path("shared.json")
        if path is None:
            yield
            return
        import fcntl

        path.parent.mkdir(parents=True, exist_ok=True)
        with (path.parent / "shared.lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            self._load_shared(path)
            yield
            data = {
                "silences": [s.to_dict() for s in self.book.silences.values()],
                "acks": sorted(self._acks),
            }
            _atomic_write(path, data)

    def _load_shared(self, path: Path) -> None:
        if not path.exists():
            return
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            data = json.loads(path.read_text())
            self.book.silences = {
                s.id: s for s in (Silence.from_dict(x) for x in data.get("silences", []))
            }
            self._acks.update(data.get("acks", []))

    def _read_shared(self, now: float) -> None:
        path = self._path("shared.json")
        if path is not None:
            self._load_shared(path)
        for fp in self._acks:
            self.book.acknowledge(fp)
        self.book.silences = {k: s for k, s in self.book.silences.items() if s.ends_at > now}

    def _write_state(self, now: float) -> None:
        path = self._path("state.json")
        if path is not None:
            _atomic_write(path, {"slo": self.slo_report(), **self.alerts_report()})

    def shared_report(self) -> dict[str, Any] | None:
        """The evaluating process's last state (for the processes that do not evaluate)."""
        path = self._path("state.json")
        if path is None or not path.exists():
            return None
        try:
            return dict(json.loads(path.read_text()))
        except (OSError, ValueError):
            return None

    def is_leader(self) -> bool:
        """Take (or hold) the evaluator's lock file; True in a single process without one."""
        if self.state_dir is None:
            return True
        if self._lock_handle is not None:
            return True
        import fcntl

        self.state_dir.mkdir(parents=True, exist_ok=True)
        handle = (self.state_dir / "evaluator.lock").open("a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        self._lock_handle = handle
        return True

    async def _loop(self) -> None:
        while True:
            try:
                if self.is_leader():
                    await self.evaluate()
            except Exception:  # never let one bad tick stop monitoring
                log.exception("monitoring evaluation failed")
            await asyncio.sleep(self.interval_s)

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.dispatcher.aclose()
        if self._lock_handle is not None:
            self._lock_handle.close()
            self._lock_handle = None


def _atomic_write(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, default=str))
    os.replace(tmp, path)


def create_system_monitor(
    settings: Any = None, *, metrics: ServiceMetrics | None = None, post: Post | None = None
) -> SystemMonitor:
    """A monitor from settings (``BACKBEAT_MONITORING_FILE``, ``ALERTMANAGER_URL``,
    ``BACKBEAT_MONITORING_INTERVAL_S``); defaults when there are none."""
    if settings is None:
        from backbeat.settings import Settings

        settings = Settings.from_env()
    raw: dict[str, Any] = {}
    source = "<defaults>"
    path = getattr(settings, "monitoring_file", None)
    if path is not None:
        raw = load_config(Path(path))
        source = str(path)
    unknown = set(raw) - {"slos", "burn_alerts", "receivers", "escalation", "alertmanager"}
    if unknown:
        raise config_error(source, ", ".join(sorted(unknown)), "unknown top-level key")
    slos = parse_slos(raw or None, source=source)
    routing = parse_routing(raw, source=source)
    data_dir = getattr(settings, "data_dir", None)
    return SystemMonitor(
        metrics,
        slos=slos,
        routing=routing,
        state_dir=Path(data_dir) / "monitoring" if data_dir is not None else None,
        alertmanager_url=getattr(settings, "alertmanager_url", None),
        interval_s=float(getattr(settings, "monitoring_interval_s", 15.0)),
        post=post,
    )
