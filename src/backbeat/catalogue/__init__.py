"""The catalogue service: tracks, their audio and analyses, jobs, keys, events, credentials.

What ``backbeat serve``, ``backbeat worker`` and ``backbeat import`` share, with no
HTTP in it: :class:`Catalogue` (repositories by aggregate on one engine, and the
:class:`MediaStore`), the :class:`AnalysisWorker` and its :class:`RedisQueue`, and the
:class:`CatalogueModel` behind ``/v1/recommendations``. Needs the ``server`` extra
(SQLAlchemy) and, to analyse, ``audio``.
"""

from backbeat.catalogue._accounts import (
    ApiKeyRepository,
    CredentialRepository,
    StoredCredential,
    credential_binding,
)
from backbeat.catalogue._billing import (
    BillingConflict,
    BillingEvent,
    BillingOutcome,
    BillingRepository,
)
from backbeat.catalogue._jobs import LEASE, MAX_ATTEMPTS, JobRepository
from backbeat.catalogue._listening import EventRepository, WeeklyPlaylistRepository
from backbeat.catalogue._media import (
    MediaPathRefused,
    MediaStore,
    StoredMedia,
    UploadTooLarge,
)
from backbeat.catalogue._metadata import ArtistMetadata, TrackMetadata
from backbeat.catalogue._model import CatalogueModel, FittedCatalogue
from backbeat.catalogue._queue import QUEUE_NAME, RedisQueue, run_redis_worker
from backbeat.catalogue._records import ApiKeyRecord, Job, QueueStats, TrackRecord, WorkerBeat
from backbeat.catalogue._reencrypt import (
    SEALED_COLUMNS,
    Reencryption,
    ReencryptionResult,
    SealedColumn,
)
from backbeat.catalogue._service import Catalogue
from backbeat.catalogue._tracks import TrackRepository
from backbeat.catalogue._trainer import Trainer
from backbeat.catalogue._training import TrainingJob, TrainingJobRepository
from backbeat.catalogue._worker import HEARTBEAT_S, AnalysisWorker, alive_window

__all__ = [
    "HEARTBEAT_S",
    "LEASE",
    "MAX_ATTEMPTS",
    "QUEUE_NAME",
    "SEALED_COLUMNS",
    "AnalysisWorker",
    "ApiKeyRecord",
    "ApiKeyRepository",
    "ArtistMetadata",
    "BillingConflict",
    "BillingEvent",
    "BillingOutcome",
    "BillingRepository",
    "Catalogue",
    "CatalogueModel",
    "CredentialRepository",
    "EventRepository",
    "FittedCatalogue",
    "Job",
    "JobRepository",
    "MediaPathRefused",
    "MediaStore",
    "QueueStats",
    "RedisQueue",
    "Reencryption",
    "ReencryptionResult",
    "SealedColumn",
    "StoredCredential",
    "StoredMedia",
    "TrackMetadata",
    "TrackRecord",
    "TrackRepository",
    "Trainer",
    "TrainingJob",
    "TrainingJobRepository",
    "UploadTooLarge",
    "WeeklyPlaylistRepository",
    "WorkerBeat",
    "alive_window",
    "credential_binding",
    "run_redis_worker",
]
