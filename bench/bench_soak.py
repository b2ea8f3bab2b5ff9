"""Bench part `soak`: a short soak (bench/soak/: radio, 4 simulated earbuds and `earpiece run` as processes,
a scripted day with faults injected on a fixed seed) for section `reliability`. `make soak` runs the long one.

    .venv/bin/python -m bench.bench_soak [--minutes 3]
"""

from __future__ import annotations

import argparse
import json
import shutil

from bench.common import BENCH_DIR, Unavailable

SECTIONS = {"reliability": ("faults_injected", "turns_answered_ratio", "reconnect_s_p95", "rss_growth_ratio",
                            "data_lost")}
SETUP_S = 240.0  # pairing four earbuds, the bridge's models, the last fault's recovery and the checks
MINUTES = 3.0
BUDGET_S = MINUTES * 60 + SETUP_S
SEED = 16


def run(budget_s: float, quick: bool = False, out_dir=None) -> dict:
    from bench.soak.run import run_soak

    if shutil.which("espeak-ng") is None:
        raise Unavailable("espeak-ng is not installed (the earbuds' questions are synthesized with it)")
    minutes = min(2.0 if quick else MINUTES, (budget_s - SETUP_S) / 60)
    if minutes < 2.0:
        raise Unavailable(f"{budget_s:.0f} s left is too little for a soak of 2 minutes")
    report = run_soak(minutes, 4, SEED, (out_dir or BENCH_DIR) / "soak-bench.json", None,
                      progress=lambda _line: None)
    return {"reliability": {**report["reliability"], "minutes": minutes, "verdict": report["verdict"],
                            "failed_checks": report["failed_checks"]}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=MINUTES)
    args = parser.parse_args()
    print(json.dumps(run(args.minutes * 60 + SETUP_S)["reliability"]))


if __name__ == "__main__":
    main()
