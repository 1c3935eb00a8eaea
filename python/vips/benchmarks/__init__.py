"""Side-by-side benchmarks against peers (scipy, numpy, torch), printing ratios; run them with ``vips bench``.

Each module exposes ``run(quick: bool) -> dict`` and prints its own table. Benchmarks are not tests: the
numbers depend on the machine and on how busy it is (each run records the load average).
"""

from __future__ import annotations

import importlib
from typing import Any

#: Benchmark name -> module under vips.benchmarks; the order is the order `vips bench` runs them.
SUITES = {
    "nearest": "vips.benchmarks.nearest",
    "kinematics": "vips.benchmarks.kinematics",
    "ddim": "vips.benchmarks.ddim",
    "runtime": "vips.benchmarks.runtime",
    "batch": "vips.benchmarks.batch",
}


def run_suites(names: list[str] | None = None, quick: bool = False) -> dict[str, Any]:
    """Run the named suites (all by default); returns {name: that suite's results}."""
    names = names or list(SUITES)
    unknown = [n for n in names if n not in SUITES]
    if unknown:
        raise ValueError(f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(SUITES)}")
    results = {}
    for name in names:
        print(f"== {name}")
        results[name] = importlib.import_module(SUITES[name]).run(quick)
    return results
