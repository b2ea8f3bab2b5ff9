"""Capacity (to be written): how many simulated earbuds one host can keep listening for the wake word in real time.

Section `capacity`:
    max_listening_devices   the most earbuds streaming at once with the host keeping up (no growing backlog)
"""

from __future__ import annotations

from pathlib import Path

from bench.common import Unavailable

SECTIONS = {"capacity": ("max_listening_devices",)}
BUDGET_S = 180.0


def run(budget_s: float, quick: bool = False, out_dir: Path | None = None) -> dict:
    raise Unavailable("capacity benchmark not written yet (bench/bench_capacity.py)")
