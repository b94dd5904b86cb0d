"""Table anonymisation: Mondrian multidimensional k-anonymity with l-diversity and
t-closeness, and the information lost.

The algorithm is strict Mondrian (K. LeFevre, D. DeWitt, R. Ramakrishnan, "Mondrian
Multidimensional K-Anonymity", ICDE 2006): the rows are split recursively, each time on the
quasi-identifier whose values are the widest in the partition (relative to the whole table),
at the median, and a split is allowed only when both halves still satisfy every requested
property (at least ``k`` rows; ``l`` distinct values of the sensitive column, or entropy of
at least log ``l``; a sensitive distribution within ``t`` of the table's). The partitions
that cannot be split are the equivalence classes; every quasi-identifier in a class is
generalised to its range (``30-39``), its set (``{F,M}``) or, with a hierarchy, the lowest
level of the hierarchy that covers the class's values.

t-closeness uses the Earth Mover's Distance of Li, Li and Venkatasubramanian (ICDE 2007):
the ordered distance for a numeric sensitive column, the equal (variational) distance for a
categorical one.

Information loss:
- **NCP** (normalised certainty penalty, averaged over rows and quasi-identifiers, a.k.a.
  GCP; 0 = nothing generalised, 1 = everything fully generalised): a numeric range counts
  its width over the table's; a set counts (values - 1) / (table's values - 1); a hierarchy
  node counts (leaves under it - 1) / (leaves - 1).
- **Discernibility**: the sum of squared class sizes, plus ``n`` for each suppressed row.
- **Average class size** metric: ``n / (classes * k)`` (1 is ideal).

Rows whose quasi-identifiers are empty are suppressed (removed and counted), within
``max_suppression`` (a fraction of the rows).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from backbeat.compliance._errors import anonymization_error

__all__ = ["AnonymizationResult", "Hierarchy", "anonymize", "pseudonymize", "read_hierarchy"]


@dataclass(frozen=True)
class Hierarchy:
    """A generalisation hierarchy of a categorical column: for each value, its ancestors
    from the most specific to the most general (the last is usually ``*``)."""

    ancestors: Mapping[str, tuple[str, ...]]

    def leaves_under(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for chain in self.ancestors.values():
            for node in chain:
                counts[node] = counts.get(node, 0) + 1
        return counts

    def cover(self, values: Sequence[str]) -> str:
        """The most specific level that covers every value (the value itself when alone)."""
        distinct = sorted(set(values))
        if len(distinct) == 1:
            return distinct[0]
        chains = [self.ancestors[v] for v in distinct]
        for node in chains[0]:
            if all(node in chain for chain in chains[1:]):
                return node
        return "*"


def read_hierarchy(path: Path) -> Hierarchy:
    """A hierarchy from a CSV file in ARX's layout: ``value;level1;level2;...`` (``;`` or
    ``,``), one row per value."""
    text = path.read_text(encoding="utf-8")
    delimiter = ";" if text.count(";") >= text.count(",") else ","
    ancestors: dict[str, tuple[str, ...]] = {}
    for number, row in enumerate(csv.reader(text.splitlines(), delimiter=delimiter), 1):
        cells = [c.strip() for c in row]
        if not cells or not cells[0]:
            continue
        if len(cells) < 2:
            raise anonymization_error(
                "compliance.hierarchy_invalid",
                "Hierarchy {file} row {row}: a value needs at least one level above it.",
                file=str(path),
                row=number,
            )
        ancestors[cells[0]] = tuple(cells[1:])
    return Hierarchy(ancestors)


@dataclass
class AnonymizationResult:
    """The anonymised table and what was achieved and lost."""

    frame: pd.DataFrame
    k: int
    l: float | None  # noqa: E741 - the property's name in the literature
    t: float | None
    suppressed: int
    classes: int
    ncp: float
    discernibility: float
    average_class_size: float
    requested: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "k": self.k,
            "l": self.l,
            "t": self.t,
            "suppressed": self.suppressed,
            "rows": len(self.frame),
            "classes": self.classes,
            "ncp": self.ncp,
            "discernibility": self.discernibility,
            "average_class_size": self.average_class_size,
            "requested": self.requested,
        }


class _Column:
    """One quasi-identifier as integer codes over its ordered values."""

    def __init__(self, name: str, values: pd.Series, hierarchy: Hierarchy | None) -> None:
        self.name = name
        self.hierarchy = hierarchy
        numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
        self.numeric = numeric and hierarchy is None
        if self.numeric:
            self.levels = np.unique(values.to_numpy(dtype=float))
            self.codes = np.searchsorted(self.levels, values.to_numpy(dtype=float))
            self.span = float(self.levels[-1] - self.levels[0]) or 1.0
            self.is_int = bool(np.all(np.equal(np.mod(self.levels, 1), 0)))
            return
        text = values.astype(str).to_numpy()
        frequency = pd.Series(text).value_counts()
        distinct = sorted(frequency.index.tolist(), key=lambda v: (-int(frequency[v]), v))
        if hierarchy is not None:
            missing = [v for v in distinct if v not in hierarchy.ancestors]
            if missing:
                raise anonymization_error(
                    "compliance.hierarchy_incomplete",
                    "The hierarchy of {column} has no entry for {values}.",
                    column=name,
                    values=", ".join(missing[:5]),
                )
            order = {v: i for i, v in enumerate(hierarchy.ancestors)}  # the file's order
            distinct.sort(key=lambda v: order[v])
            self.leaves = hierarchy.leaves_under()
            self.total_leaves = len(hierarchy.ancestors)
        index = {v: i for i, v in enumerate(distinct)}
        self.levels = np.array(distinct, dtype=object)
        self.codes = np.fromiter((index[v] for v in text), dtype=np.int64, count=len(text))
        self.span = float(max(len(distinct) - 1, 1))

    def _shown(self, x: float) -> str:
        return str(int(x)) if self.is_int else f"{x:g}"

    def present(self, idx: np.ndarray) -> np.ndarray:
        """The codes present in the partition ``idx``, in order."""
        return np.flatnonzero(np.bincount(self.codes[idx], minlength=len(self.levels)))

    def width(self, present: np.ndarray) -> float:
        """The partition's spread on this column, relative to the table's."""
        if self.numeric:
            return float(self.levels[present[-1]] - self.levels[present[0]]) / self.span
        return (len(present) - 1) / self.span

    def generalise(self, present: np.ndarray) -> tuple[str, float]:
        """The label of a class's values and its certainty penalty."""
        if self.numeric:
            lo, hi = self.levels[int(present[0])], self.levels[int(present[-1])]
            label = self._shown(lo) if lo == hi else f"{self._shown(lo)}-{self._shown(hi)}"
            return label, float(hi - lo) / self.span
        values = [str(self.levels[c]) for c in present]
        if self.hierarchy is not None:
            node = self.hierarchy.cover(values)
            under = self.leaves.get(node, self.total_leaves) if len(values) > 1 else 1
            return node, (under - 1) / max(self.total_leaves - 1, 1)
        if len(values) == 1:
            return values[0], 0.0
        return "{" + ",".join(values) + "}", (len(values) - 1) / self.span


class _Sensitive:
    """The sensitive column's codes and the table's distribution, for l and t."""

    def __init__(self, values: pd.Series) -> None:
        numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
        raw = values.to_numpy(dtype=float) if numeric else values.astype(str).to_numpy()
        self.levels, self.codes = np.unique(raw, return_inverse=True)
        self.ordered = numeric
        self.m = len(self.levels)
        self.overall = np.bincount(self.codes, minlength=self.m) / len(self.codes)

    def counts(self, idx: np.ndarray) -> np.ndarray:
        return np.bincount(self.codes[idx], minlength=self.m)

    @staticmethod
    def distinct(counts: np.ndarray) -> int:
        return int(np.count_nonzero(counts))

    @staticmethod
    def entropy_l(counts: np.ndarray) -> float:
        p = counts[counts > 0] / counts.sum()
        return float(math.exp(-(p * np.log(p)).sum()))

    def distance(self, counts: np.ndarray) -> float:
        p = counts / counts.sum()
        if self.ordered and self.m > 1:
            return float(np.abs(np.cumsum(p - self.overall)[:-1]).sum() / (self.m - 1))
        return float(0.5 * np.abs(p - self.overall).sum())


def _check_columns(frame: pd.DataFrame, quasi: Sequence[str], sensitive: str | None) -> None:
    missing = [c for c in (*quasi, *([sensitive] if sensitive else [])) if c not in frame.columns]
    if missing:
        raise anonymization_error(
            "compliance.column_missing",
            "The table has no column {columns} (it has {available}).",
            columns=", ".join(missing),
            available=", ".join(map(str, frame.columns[:20])),
        )
    if not quasi:
        raise anonymization_error(
            "compliance.quasi_missing", "Name at least one quasi-identifier column."
        )
    empty = [c for c in quasi if frame[c].isna().all()]
    if empty:
        raise anonymization_error(
            "compliance.column_empty",
            "Quasi-identifier {columns} has no values.",
            columns=", ".join(empty),
        )
    if sensitive is not None and sensitive in quasi:
        raise anonymization_error(
            "compliance.sensitive_is_quasi",
            "The sensitive column {column} cannot also be a quasi-identifier.",
            column=sensitive,
        )


def anonymize(
    frame: pd.DataFrame,
    *,
    k: int,
    quasi: Sequence[str],
    sensitive: str | None = None,
    l: float | None = None,  # noqa: E741 - the property's name in the literature
    l_kind: str = "distinct",
    t: float | None = None,
    hierarchies: Mapping[str, Hierarchy] | None = None,
    max_suppression: float = 0.05,
) -> AnonymizationResult:
    """``frame`` made ``k``-anonymous on ``quasi`` (and ``l``-diverse, ``t``-close on
    ``sensitive``) by Mondrian; see the module's text for the metrics."""
    quasi = list(quasi)
    _check_columns(frame, quasi, sensitive)
    if k < 1:
        raise anonymization_error("compliance.k_invalid", "k must be at least 1; got {k}.", k=k)
    if (l is not None or t is not None) and sensitive is None:
        raise anonymization_error(
            "compliance.sensitive_missing",
            "l-diversity and t-closeness need a sensitive column (--sensitive).",
        )
    if l_kind not in ("distinct", "entropy"):
        raise anonymization_error(
            "compliance.l_kind", "l-diversity is distinct or entropy; got {kind}.", kind=l_kind
        )
    if t is not None and not 0 < t <= 1:
        raise anonymization_error("compliance.t_invalid", "t must be in (0, 1]; got {t}.", t=t)
    usable = frame[quasi].notna().all(axis=1)
    if sensitive is not None:
        usable &= frame[sensitive].notna()
    suppressed = int((~usable).sum())
    if suppressed > max_suppression * len(frame):
        raise anonymization_error(
            "compliance.suppression_exceeded",
            "{count} rows have empty quasi-identifiers: more than the {budget} suppression "
            "budget allows.",
            count=suppressed,
            budget=f"{max_suppression:.0%}",
        )
    kept = frame[usable]
    n = len(kept)
    if n < k:
        raise anonymization_error(
            "compliance.k_too_large",
            "k = {k} is larger than the table ({rows} usable rows).",
            k=k,
            rows=n,
        )
    hierarchies = dict(hierarchies or {})
    columns = [_Column(c, kept[c], hierarchies.get(c)) for c in quasi]
    sens = _Sensitive(kept[sensitive]) if sensitive is not None else None

    def allowed(idx: np.ndarray) -> bool:
        if len(idx) < k:
            return False
        if sens is None or (l is None and t is None):
            return True
        counts = sens.counts(idx)
        if l is not None:
            achieved = sens.distinct(counts) if l_kind == "distinct" else sens.entropy_l(counts)
            if achieved < l - 1e-9:
                return False
        return t is None or sens.distance(counts) <= t + 1e-12

    everything = np.arange(n)
    if not allowed(everything):
        assert sens is not None
        counts = sens.counts(everything)
        raise anonymization_error(
            "compliance.l_unreachable" if l is not None else "compliance.t_unreachable",
            "The sensitive column {column} has {distinct} distinct values: l = {l} cannot be "
            "reached even with one class.",
            column=sensitive,
            distinct=sens.distinct(counts),
            l=l if l is not None else "-",
        )

    finished: list[np.ndarray] = []
    stack = [everything]
    while stack:
        idx = stack.pop()
        if len(idx) < 2 * k:
            finished.append(idx)
            continue
        tallies = [np.bincount(col.codes[idx], minlength=len(col.levels)) for col in columns]
        widths = [
            (col.width(tally.nonzero()[0]), i)
            for i, (col, tally) in enumerate(zip(columns, tallies, strict=True))
        ]
        split = None
        for width, i in sorted(widths, reverse=True):
            if width <= 0:
                break
            codes = columns[i].codes[idx]
            values = tallies[i].nonzero()[0]
            counts = tallies[i][values]
            if len(values) < 2:
                continue
            cumulative = np.cumsum(counts)
            # the median value goes to the side that leaves the halves closer in size
            cut = int(np.searchsorted(cumulative, len(idx) / 2))
            candidates = sorted(
                {c for c in (cut - 1, cut) if 0 <= c <= len(values) - 2},
                key=lambda c: abs(2 * int(cumulative[c]) - len(idx)),
            )
            for c in candidates:
                left = idx[codes <= values[c]]
                right = idx[codes > values[c]]
                if allowed(left) and allowed(right):
                    split = (left, right)
                    break
            if split is not None:
                break
        if split is None:
            finished.append(idx)
        else:
            stack.extend(split)

    out = kept.copy()
    penalties = np.zeros(n)
    order = np.concatenate(finished)
    starts = np.cumsum([0] + [len(idx) for idx in finished[:-1]])
    for col in columns:
        labels = np.empty(n, dtype=object)
        ordered = col.codes[order]
        lows = np.minimum.reduceat(ordered, starts)
        highs = np.maximum.reduceat(ordered, starts)
        seen: dict[tuple[int, int] | bytes, tuple[str, float]] = {}
        for c, idx in enumerate(finished):
            if col.numeric or lows[c] == highs[c]:
                key: tuple[int, int] | bytes = (int(lows[c]), int(highs[c]))
                present = np.array(key if key[0] != key[1] else key[:1])
            else:
                present = col.present(idx)
                key = present.tobytes()
            if key not in seen:
                seen[key] = col.generalise(present)
            label, penalty = seen[key]
            labels[idx] = label
            penalties[idx] += penalty
        out[col.name] = labels
    sizes = np.array([len(idx) for idx in finished])
    achieved_l: float | None = None
    achieved_t: float | None = None
    if sens is not None:
        per_class = [sens.counts(idx) for idx in finished]
        if l_kind == "entropy":
            achieved_l = round(min(sens.entropy_l(c) for c in per_class), 4)
        else:
            achieved_l = float(min(sens.distinct(c) for c in per_class))
        achieved_t = round(max(sens.distance(c) for c in per_class), 6)
    total = len(frame)
    return AnonymizationResult(
        frame=out.reset_index(drop=True),
        k=int(sizes.min()),
        l=achieved_l,
        t=achieved_t,
        suppressed=suppressed,
        classes=len(finished),
        ncp=round(float(penalties.sum() / (n * len(columns))), 6),
        discernibility=float((sizes.astype(float) ** 2).sum() + suppressed * total),
        average_class_size=round(n / (len(finished) * k), 6),
        requested={"k": k, "l": l, "l_kind": l_kind, "t": t, "quasi": quasi},
    )


def pseudonymize(frame: pd.DataFrame, columns: Sequence[str], key: bytes) -> pd.DataFrame:
    """``frame`` with each value of ``columns`` replaced by a keyed pseudonym: the first 32
    hex digits of HMAC-SHA-256 under ``key``. The same value gives the same pseudonym (joins
    still work); without the key the value cannot be recomputed from it, and destroying the
    key makes the pseudonyms anonymous. Empty values stay empty."""
    import hashlib
    import hmac

    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise anonymization_error(
            "compliance.column_missing",
            "The table has no column {columns} (it has {available}).",
            columns=", ".join(missing),
            available=", ".join(map(str, frame.columns[:20])),
        )
    if len(key) < 16:
        raise anonymization_error(
            "compliance.pseudonym_key", "A pseudonymisation key needs at least 16 bytes."
        )
    out = frame.copy()
    for column in columns:
        values = out[column]
        cache: dict[str, str] = {}

        def pseudonym(value: object, cache: dict[str, str] = cache) -> object:
            if value is None or (isinstance(value, float) and math.isnan(value)):
                return value
            text = str(value)
            if text not in cache:
                cache[text] = hmac.new(key, text.encode(), hashlib.sha256).hexdigest()[:32]
            return cache[text]

        out[column] = values.map(pseudonym).astype(object)
    return out
