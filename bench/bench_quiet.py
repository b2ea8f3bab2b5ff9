"""Cost of quiet mode (to be written): host CPU per connected earbud while it is quiet, against while listening.

Section `quiet` (percent of one core, host process):
    cpu_percent_per_device             per earbud in quiet mode (nothing streamed, nothing processed)
    listening_cpu_percent_per_device   per earbud listening for the wake word (the plot compares the two)
Either value may also be a {process name: percent} dict (e.g. host, earbud); the plot then groups the bars.
"""

from __future__ import annotations

from pathlib import Path

from bench.common import Unavailable

SECTIONS = {"quiet": ("cpu_percent_per_device",)}
BUDGET_S = 90.0


def run(budget_s: float, quick: bool = False, out_dir: Path | None = None) -> dict:
    raise Unavailable("quiet-mode CPU benchmark not written yet (bench/bench_quiet.py)")
