"""`make fuzz`: `python -m tests.fuzz [--seconds 60] [--only NAME[,NAME]] [--json]` runs every fuzz target
(tests/fuzz/targets.py, and sim_gatt: tests/fuzz/sim_gatt.py) for the time given and prints executions and new crashes per target.
Exit status 0 when no target crashed, 1 otherwise."""

from __future__ import annotations

import argparse
import json
import sys


def main(argv: list[str] | None = None) -> int:
    from tests.fuzz.runner import fuzz
    from tests.fuzz.sim_gatt import fuzz_simulator
    from tests.fuzz.targets import TARGETS

    parser = argparse.ArgumentParser(prog="python -m tests.fuzz", description=__doc__)
    parser.add_argument("--seconds", type=float, default=60.0, help="time per target (default 60)")
    parser.add_argument("--only", default="", help=f"comma-separated targets: {', '.join(TARGETS)}")
    parser.add_argument("--json", action="store_true", help="one JSON object per target instead of a table")
    args = parser.parse_args(argv)
    known = [*TARGETS, "sim_gatt"]  # sim_gatt: a simulated earbud process on a radio, written to by a bonded central
    names = [n for n in args.only.split(",") if n] or known
    unknown = [n for n in names if n not in known]
    if unknown:
        parser.error(f"unknown target(s) {', '.join(unknown)}; choose from {', '.join(known)}")
    crashed = 0
    if not args.json:
        print(f"{'target':<22}{'executions':>12}{'seconds':>9}{'new crashes':>13}")
    for name in names:
        outcome = fuzz_simulator(args.seconds) if name == "sim_gatt" else fuzz(TARGETS[name], seconds=args.seconds)
        crashed += len(outcome.crashes)
        if args.json:
            print(json.dumps(outcome.to_json()), flush=True)
        else:
            print(f"{name:<22}{outcome.executions:>12}{outcome.seconds:>9.0f}{len(outcome.crashes):>13}", flush=True)
            for signature, example in outcome.crashes.items():
                print(f"    {signature}: {example}")
    return 1 if crashed else 0


if __name__ == "__main__":
    sys.exit(main())
