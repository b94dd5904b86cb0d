"""Monitoring: metrics right under many processes, SLOs with burn-rate alerts, an
embedded evaluator with alert routing, anomaly detection and forecasts.

- :class:`ServiceMetrics` (Prometheus series; multiprocess aggregation for
  ``serve --workers N`` and ``backbeat worker``);
- :class:`Slo`, :func:`parse_slos`, :func:`write_rules` (Prometheus recording and
  alerting rules, an Alertmanager configuration, a Grafana dashboard);
- :class:`SystemMonitor` / :func:`create_system_monitor` (the seed's
  ``start_advanced_monitoring``, ``configure_smart_alerts``, ``track_session``,
  ``track_metrics``; the embedded evaluator; silences, acknowledgements, escalation);
- detectors (:class:`AnomalyDetector` and its parts), :func:`read_series`,
  :func:`generate_labelled`, the NAB scorer (:func:`load_corpus`, :func:`score_corpus`).
"""

from __future__ import annotations

from backbeat.monitoring._alerting import Alert, AlertBook, AlertSpec, Dispatcher, Silence
from backbeat.monitoring._detect import (
    DEFAULT_THRESHOLD,
    AnomalyDetector,
    Cusum,
    Ensemble,
    Ewma,
    Refractory,
    RelativeEntropy,
    RobustZ,
    SeasonalBaseline,
    SurpriseLikelihood,
    ThreeSigma,
    score_series,
)
from backbeat.monitoring._errors import MonitoringConfigError, SeriesError
from backbeat.monitoring._forecast import Forecast, Holt
from backbeat.monitoring._metrics import (
    CONTENT_TYPE_LATEST,
    LATENCY_BUCKETS,
    MULTIPROC_ENV,
    ServiceMetrics,
    mark_process_dead,
    multiprocess_dir,
    prepare_multiprocess_dir,
)
from backbeat.monitoring._monitor import FEATURES, SystemMonitor, create_system_monitor
from backbeat.monitoring._nab import PROFILES, NabFile, NabResult, load_corpus, score_corpus
from backbeat.monitoring._routing import Escalation, Receiver, Routing, Shift, parse_routing
from backbeat.monitoring._rules import (
    alertmanager_config,
    grafana_dashboard,
    prometheus_rules,
    write_rules,
)
from backbeat.monitoring._series import (
    ANOMALY_KINDS,
    EventScore,
    LabelledSeries,
    Series,
    detections,
    event_scores,
    generate_labelled,
    read_series,
)
from backbeat.monitoring._slo import (
    DEFAULT_BURN_ALERTS,
    DEFAULT_SLOS,
    BurnAlert,
    Slo,
    load_config,
    parse_slos,
)
from backbeat.monitoring._tracing import TracingMiddleware, tracer_provider

__all__ = [
    "ANOMALY_KINDS",
    "CONTENT_TYPE_LATEST",
    "DEFAULT_BURN_ALERTS",
    "DEFAULT_SLOS",
    "DEFAULT_THRESHOLD",
    "FEATURES",
    "LATENCY_BUCKETS",
    "MULTIPROC_ENV",
    "PROFILES",
    "Alert",
    "AlertBook",
    "AlertSpec",
    "AnomalyDetector",
    "BurnAlert",
    "Cusum",
    "Dispatcher",
    "Ensemble",
    "Escalation",
    "EventScore",
    "Ewma",
    "Forecast",
    "Holt",
    "LabelledSeries",
    "MonitoringConfigError",
    "NabFile",
    "NabResult",
    "Receiver",
    "Refractory",
    "RelativeEntropy",
    "RobustZ",
    "Routing",
    "SeasonalBaseline",
    "Series",
    "SeriesError",
    "ServiceMetrics",
    "Shift",
    "Silence",
    "Slo",
    "SurpriseLikelihood",
    "SystemMonitor",
    "ThreeSigma",
    "TracingMiddleware",
    "alertmanager_config",
    "create_system_monitor",
    "detections",
    "event_scores",
    "generate_labelled",
    "grafana_dashboard",
    "load_config",
    "load_corpus",
    "mark_process_dead",
    "multiprocess_dir",
    "parse_routing",
    "parse_slos",
    "prepare_multiprocess_dir",
    "prometheus_rules",
    "read_series",
    "score_corpus",
    "score_series",
    "tracer_provider",
    "write_rules",
]
