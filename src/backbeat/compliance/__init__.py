"""Privacy compliance: data-subject requests, consent, records of processing, retention,
provable erasure, anonymisation and personal-data detection (GDPR/CCPA).

- :func:`create_gdpr_compliance` -> :class:`GdprCompliance` (``tk.compliance``, the seed's
  ``compliance_monitor``): requests with deadlines and e-mailed single-use tokens,
  exports (ZIP of JSON and CSV with a manifest), erasure across the :class:`DataMap`
  (backbeat's own stores and the host app's), ``verify_erasure``, consent
  (``require_consent``), records of processing (Art. 30), retention sweeps.
- :func:`anonymize`: Mondrian multidimensional k-anonymity with l-diversity and
  t-closeness, generalisation hierarchies, a suppression budget, information-loss figures.
- :func:`find_pii` / :func:`redact` / :func:`scan_file`: e-mail, phone, IBAN, payment
  card, IP address and Spotify user references in text and columns.
"""

from __future__ import annotations

from backbeat.compliance._anonymize import (
    AnonymizationResult,
    Hierarchy,
    anonymize,
    pseudonymize,
    read_hierarchy,
)
from backbeat.compliance._datamap import LAWFUL_BASES, DataCategory, DataMap, Erased
from backbeat.compliance._errors import AnonymizationError
from backbeat.compliance._factory import create_gdpr_compliance
from backbeat.compliance._mail import Mailer
from backbeat.compliance._own import USER_CACHE_PREFIX
from backbeat.compliance._pii import KINDS, PiiMatch, find_pii, redact, scan_file, scan_frame
from backbeat.compliance._policy import JURISDICTIONS, Duration, due_date, parse_duration
from backbeat.compliance._service import (
    REQUEST_TYPES,
    ConsentRequired,
    ErasureReport,
    GdprCompliance,
    PrivacyConflict,
    PrivacyRequest,
)

__all__ = [
    "JURISDICTIONS",
    "KINDS",
    "LAWFUL_BASES",
    "REQUEST_TYPES",
    "USER_CACHE_PREFIX",
    "AnonymizationError",
    "AnonymizationResult",
    "ConsentRequired",
    "DataCategory",
    "DataMap",
    "Duration",
    "Erased",
    "ErasureReport",
    "GdprCompliance",
    "Hierarchy",
    "Mailer",
    "PiiMatch",
    "PrivacyConflict",
    "PrivacyRequest",
    "anonymize",
    "create_gdpr_compliance",
    "due_date",
    "find_pii",
    "parse_duration",
    "pseudonymize",
    "read_hierarchy",
    "redact",
    "scan_file",
    "scan_frame",
]
