"""`make fuzz`: `python -m tests.fuzz [--seconds 60] [--only NAME[,NAME]] [--json]` runs every fuzz target
(tests/fuzz/targets.py) for the time given and prints executions and new crashes per target.
Exit status 0 when no target crashed, 1 otherwise."""

from __future__ import annotations

import argparse
import json
import sys


def main(argv: list[str] | None = None) -> int:
    from tests.fuzz.runner import fuzz
    from tests.fuzz.targets import TARGETS

    parser = argparse.ArgumentParser(prog="python -m tests.fuzz", description=__doc__)
    parser.add_argument("--seconds", type=float, default=60.0, help="time per target (default 60)")
    parser.add_argument("--only", default="", help=f"comma-separated targets: {', '.join(TARGETS)}")
    parser.add_argument("--json", action="store_true", help="one JSON object per target instead of a table")
    args = parser.parse_args(argv)
    names = [n for n in args.only.split(",") if n] or list(TARGETS)
    unknown = [n for n in names if n not in TARGETS]
    if unknown:
        parser.error(f"unknown target(s) {', '.join(unknown)}; choose from {', '.join(TARGETS)}")
    crashed = 0
    if not args.json:
        print(f"{'target':<22}{'executions':>12}{'seconds':>9}{'new crashes':>13}")
    for name in names:
        outcome = fuzz(TARGETS[name], seconds=args.seconds)
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
