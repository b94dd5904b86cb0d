"""Tiny helpers shared by the benchmark scripts: best-of-N timing and a text table."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence


def best_per_call(run: Callable[[int], None], n: int, repeat: int = 5) -> float:
    """Seconds per call: the best of ``repeat`` runs of ``run(n)`` (least disturbed)."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        run(n)
        best = min(best, time.perf_counter() - start)
    return best / n


def print_table(title: str, header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    cells = [[str(c) for c in header]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    print(f"\n{title}")
    for i, row in enumerate(cells):
        print(
            "  ".join(
                c.rjust(w) if j else c.ljust(w)
                for j, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )
        if i == 0:
            print("  ".join("-" * w for w in widths))
