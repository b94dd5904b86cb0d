"""Privacy compliance (issue 17). This first part: table anonymisation.

- :func:`anonymize`: Mondrian multidimensional k-anonymity with l-diversity (distinct,
  entropy) and t-closeness, generalisation hierarchies, a suppression budget, and the
  information lost (NCP, discernibility, average class size); ``backbeat anonymize``.

Data-subject requests, consent, records of processing, retention and provable erasure come
with the rest of the issue.
"""

from __future__ import annotations

from backbeat.compliance._anonymize import (
    AnonymizationResult,
    Hierarchy,
    anonymize,
    read_hierarchy,
)
from backbeat.compliance._errors import AnonymizationError

__all__ = [
    "AnonymizationError",
    "AnonymizationResult",
    "Hierarchy",
    "anonymize",
    "read_hierarchy",
]
