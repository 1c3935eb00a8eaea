"""Wall-clock timing for benchmarks: best of several repeats, the figure least disturbed by other processes."""

from __future__ import annotations

import time
from typing import Callable


def best_of(fn: Callable[[], object], repeat: int = 5, number: int = 1) -> float:
    """Seconds per call of ``fn``: the fastest of ``repeat`` rounds of ``number`` calls each.

    ``fn`` is called once first (untimed) so lazy initialization, page faults of first use and thread-pool
    start-up are not counted.
    """
    fn()
    best = float("inf")
    for _ in range(max(1, repeat)):
        start = time.perf_counter()
        for _ in range(max(1, number)):
            fn()
        best = min(best, (time.perf_counter() - start) / max(1, number))
    return best
