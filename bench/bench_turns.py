"""Turn latency (to be written): from the end of the user's speech at the earbud to the first reply audio there.

Contract with the harness (bench/common.py) and the plots (bench/plots.py), section `turn_latency_ms`:
    p50, p95     milliseconds over all measured turns
    stages       {stage name: median ms} in pipeline order, e.g. uplink, endpoint, asr, assistant, tts, downlink
                 (the waterfall plot draws a typical turn by laying these end to end, in this order)
    samples_ms   every turn's latency (the histogram plot)
    turns        how many turns were measured
"""

from __future__ import annotations

from pathlib import Path

from bench.common import Unavailable

SECTIONS = {"turn_latency_ms": ("p50", "p95", "stages")}
BUDGET_S = 150.0


def run(budget_s: float, quick: bool = False, out_dir: Path | None = None) -> dict:
    raise Unavailable("turn-latency benchmark not written yet (bench/bench_turns.py)")
