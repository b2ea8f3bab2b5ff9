"""`python -m bench.soak [--minutes 10] [--earbuds 4] [--seed N]`: the soak; writes bench/soak.json and
bench/soak.png, prints the figures and a verdict. Exit status 0 when every check passed, 1 otherwise."""

from __future__ import annotations

import argparse
import json
import sys

from bench.common import BENCH_DIR


def summary(report: dict) -> str:
    q, r, rss, data = report["questions"], report["reconnects"], report["rss"], report["data"]
    fmt = lambda v: "-" if v is None else f"{v:.2f}"  # noqa: E731
    lines = [
        f"soak: {report['minutes']} min, {report['earbuds']} earbuds, seed {report['seed']}, "
        f"links cut every {report['cut_every_s']:.0f} s",
        "faults injected: " + ", ".join(f"{k} {v}" for k, v in sorted(report["faults_by_kind"].items())),
        f"questions: {q['answered']}/{q['asked']} answered"
        + (f"; missed: {json.dumps(q['missed'][:5])}" if q["missed"] else ""),
        f"not counted: {len(q['talked_over_by_a_reminder'])} said while a reminder rang in that ear, "
        f"{len(q['wake_rejected_by_verification'])} wake words rejected by [wake] verify"
        + (f" {json.dumps(q['wake_rejected_by_verification'][:5])}" if q["wake_rejected_by_verification"] else ""),
        f"quiet: {report['quiet']['frames_processed_while_quiet']} frames processed while quiet",
        f"reminders due after a kill: {report['reminders']['rung']}/{report['reminders']['due']} rung"
        f" (max {report['reminders']['max_late_s']} s late)",
        f"reconnects: {r['count']}, p50 {fmt(r['p50_s'])} s, p95 {fmt(r['p95_s'])} s, max {fmt(r['max_s'])} s",
        f"bridge RSS: {rss.get('rss_start_mb')} MB at {rss.get('from_s')} s -> {rss.get('rss_end_mb')} MB "
        f"({100 * (rss.get('ratio') or 0):+.1f} %)",
        f"data lost: {data['data_lost']} {data['lost'] if data['lost'] else ''}",
        f"wedged sessions: {len(report['wedges']['wedged'])}; unhandled exceptions: "
        f"{report['tracebacks']['unhandled'] or 'none'}; tracebacks logged with a warning: "
        f"{report['tracebacks']['logged_count']}",
        f"bridge status: {report['bridge_status']['unanswered_within_2s']} of "
        f"{report['bridge_status']['status_requests']} requests unanswered within 2 s",
    ]
    for fault in report["faults"]["injected"]:
        if not fault["ok"]:
            lines.append(f"fault FAILED: {fault['kind']} at {fault['at_s']} s: {fault.get('detail')}")
    lines.append(f"verdict: {report['verdict'].upper()}"
                 + (f" ({', '.join(report['failed_checks'])})" if report["failed_checks"] else ""))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from bench.soak.run import run_soak

    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--earbuds", type=int, default=4)
    parser.add_argument("--seed", type=int, default=None, help="the schedule's seed (default: a random one, printed)")
    parser.add_argument("--out", type=str, default=str(BENCH_DIR / "soak.json"))
    parser.add_argument("--plot", type=str, default=str(BENCH_DIR / "soak.png"))
    parser.add_argument("--keep", action="store_true", help="keep the working folder (logs) for a look afterwards")
    args = parser.parse_args(argv)
    if args.minutes < 2 or args.earbuds < 1:
        parser.error("--minutes must be at least 2 and --earbuds at least 1")
    from pathlib import Path

    report = run_soak(args.minutes, args.earbuds, args.seed, Path(args.out), Path(args.plot),
                      keep_workdir=args.keep, progress=lambda line: print(line, flush=True))
    print(summary(report))
    return 0 if report["verdict"] == "pass" else 1


if __name__ == "__main__":
    sys.exit(main())
