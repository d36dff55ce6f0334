"""The slowest interval computation any allowed ε can ask for (issue: a tiny ε was a denial of
service: 100 s of coordinator CPU for one Submit).

Counts: ε at the hard floor (regiozicht/query.py MIN_EPSILON) summed over 12 nodes, as the CLI and
the coordinator compute it. Linked shares: ε and δ at their floors (regiozicht/linkquery.py) with
the most peers a query may name. Each computed from cold caches.

Usage: .venv/bin/python bench/intervals.py     Last line: max_interval_s=…
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from regiozicht import dp, linknoise
from regiozicht.linkquery import MAX_PEERS, MIN_DELTA, MIN_LINKED_EPSILON
from regiozicht.query import MIN_EPSILON


def timed(label: str, work: Callable[..., object]) -> float:
    started = time.perf_counter()
    result = work()
    seconds = time.perf_counter() - started
    print(f"{label}: {seconds:.3f} s ({result})")
    return seconds


def main() -> None:
    slowest = 0.0
    for nodes in (1, 5, 12):
        scales = [dp.count_scale(float(MIN_EPSILON))] * nodes
        slowest = max(slowest, timed(f"count at ε {MIN_EPSILON}, {nodes} node(s)",
                                     lambda s=scales: f"±{dp.sum_half_width(s)}"))
    epsilon, delta = float(MIN_LINKED_EPSILON), float(MIN_DELTA)
    shift = linknoise.shift_for(epsilon, delta)
    for runs in (1, 2, MAX_PEERS):
        linknoise.share_region.cache_clear()
        slowest = max(slowest, timed(f"linked share at ε {epsilon}, δ {delta}, {runs} run(s), T {shift}",
                                     lambda r=runs: linknoise.share_interval(50, 100, epsilon, shift, r)))
        slowest = max(slowest, timed(f"linked count at ε {epsilon}, δ {delta}, {runs} run(s)",
                                     lambda r=runs: f"±{linknoise.linked_half_width(epsilon, shift, r)}"))
    print(f"max_interval_s={slowest:.3f}")


if __name__ == "__main__":
    main()
