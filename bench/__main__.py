"""`make bench`: run every benchmark part, write bench/results.json, print a table, save plots as PNG.

    .venv/bin/python -m bench [--only PART[,PART]] [--quick] [--out FILE] [--json] [--list]

Each part (see bench/common.py) runs in a child process of its own with a time budget: a part that is not
available here is recorded as "skipped", one that fails or overruns as "error", with null values either way,
and the others still run. The whole run stays within --total-budget (default an hour).
Exit status: 0 when every selected part ran or was skipped, 1 when one failed, 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

from bench.common import BENCH_DIR, REQUIRED, ROOT, Unavailable, empty_sections, machine

# name -> "module" or "module:attribute" of an object with SECTIONS, BUDGET_S and run(budget_s, quick, out_dir).
PARTS = {
    "adpcm": "bench.script_parts:ADPCM",
    "link": "bench.script_parts:LINK",
    "accuracy": "bench.bench_accuracy",
    "turns": "bench.bench_turns",
    "capacity": "bench.bench_capacity",
    "wearer": "bench.bench_wearer",  # wearer-only listening: the speaker check's false accepts and rejects
    "quiet": "bench.bench_quiet",
    "conversation": "bench.bench_conversation",  # the longest, and the others' figures come first
    "wyoming": "bench.bench_wyoming",  # after the headline parts: it gets the time they leave
    "soak": "bench.bench_soak",  # reliability: a 3-minute soak with faults (make soak runs the long one)
    "listening": "bench.bench_listening",  # wake word: detection, false accepts on ~3 h of negatives, verification
    "barge_in": "bench.bench_barge_in",  # interrupting a reply by voice with the earbud's echo path on
    "noise": "bench.bench_noise",  # noise suppression: wake word and recognition at 10 and 5 dB SNR, per engine
}
TOTAL_BUDGET_S = 3600.0  # `make bench` finishes within an hour on 2 cores (conversation 10 min, listening up to 15)
MIN_PART_BUDGET_S = 1.0


def load_part(spec: str):
    """A part from a PARTS name, or any importable "module[:attribute]" (lets developers try a new part)."""
    module_name, _, attribute = PARTS.get(spec, spec).partition(":")
    module = importlib.import_module(module_name)
    part = getattr(module, attribute) if attribute else module
    for needed in ("SECTIONS", "BUDGET_S", "run"):
        if not hasattr(part, needed):
            raise ValueError(f"{spec} is not a benchmark part (it has no {needed}; see bench/common.py)")
    return part


def grace_s(budget_s: float) -> float:
    """Time past the budget before a part is killed: its own cleanup and interpreter start-up."""
    return max(2.0, min(15.0, 0.1 * budget_s))


# ---- the child: one part ---------------------------------------------------------------------------------------


def run_part_here(spec: str, budget_s: float, quick: bool, out_dir: Path, answer: Path) -> int:
    """Runs in the child process: writes {"sections": ...} or {"skipped": why} or {"error": what} to `answer`."""
    try:
        part = load_part(spec)
        outcome = {"sections": part.run(budget_s, quick=quick, out_dir=out_dir)}
    except Unavailable as why:
        outcome = {"skipped": str(why)}
    except Exception as error:  # noqa: BLE001 - any failure of a part is recorded, never fatal to the harness
        traceback.print_exc()
        outcome = {"error": f"{type(error).__name__}: {error}"[:500]}
    answer.write_text(json.dumps(outcome), encoding="utf-8")
    return 0


# ---- the parent: every part ------------------------------------------------------------------------------------


def run_part(spec: str, budget_s: float, quick: bool, out_dir: Path) -> dict:
    """Run one part in a child process (its own process group, killed whole on overrun): its outcome dict."""
    with tempfile.TemporaryDirectory(prefix="earpiece-bench-") as scratch:
        answer = Path(scratch) / "answer.json"
        # The part's temporary files go under our scratch folder: a part killed on overrun never cleans up.
        child_tmp = Path(scratch) / "tmp"
        child_tmp.mkdir()
        command = [sys.executable, "-m", "bench", "--run-part", spec, "--budget", str(budget_s),
                   "--out-dir", str(out_dir), "--answer", str(answer)] + (["--quick"] if quick else [])
        # Child output goes to our stderr: stdout is kept for the table (or the one --json line).
        child = subprocess.Popen(command, cwd=ROOT, env={**os.environ, "TMPDIR": str(child_tmp)}, stdout=sys.stderr,
                                 stderr=sys.stderr, start_new_session=True)
        try:
            child.wait(timeout=budget_s + grace_s(budget_s))
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
            return {"error": f"did not finish within its budget of {budget_s:.0f} s (killed)"}
        if answer.is_file():
            return json.loads(answer.read_text(encoding="utf-8"))
        return {"error": f"the part's process died (exit status {child.returncode}) without an answer"}


def collect(specs: list[str], quick: bool, out_dir: Path, total_budget_s: float) -> dict:
    results: dict = {"machine": machine(), "quick": quick, "parts": {}}
    deadline = time.monotonic() + total_budget_s
    for spec in specs:
        part = load_part(spec)
        budget = min(float(part.BUDGET_S), deadline - time.monotonic())
        started = time.monotonic()
        if budget < MIN_PART_BUDGET_S:
            outcome = {"skipped": f"no time left of the {total_budget_s:.0f} s total budget"}
        else:
            print(f"bench: {spec} (budget {budget:.0f} s) ...", file=sys.stderr, flush=True)
            outcome = run_part(spec, budget, quick, out_dir)
        status = "ok" if "sections" in outcome else ("skipped" if "skipped" in outcome else "error")
        results["parts"][spec] = {"status": status, "seconds": round(time.monotonic() - started, 1),
                                  "budget_s": round(budget, 1), **({status: outcome[status]} if status != "ok" else {})}
        if status == "ok":
            sections = outcome["sections"]
            missing = [f"{name}.{key}" for name, keys in part.SECTIONS.items() for key in keys
                       if key not in sections.get(name, {})]
            if missing:
                results["parts"][spec]["warning"] = "part left out " + ", ".join(missing)
            for name, keys in part.SECTIONS.items():
                # Merged: several parts may fill one section (each its own keys), e.g. `listening`.
                results[name] = {**results.get(name, {}), **{key: None for key in keys}, **sections.get(name, {})}
            for name, values in sections.items():  # extra sections a part chose to report
                results.setdefault(name, values)
        else:
            results.update(empty_sections(part.SECTIONS, status, outcome[status]))
    for name, keys in REQUIRED.items():  # parts not selected: the file still has every key
        if name not in results:
            results.update(empty_sections({name: keys}, "skipped", "not run (--only)"))
    return results


# ---- the table ---------------------------------------------------------------------------------------------------


def show(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        return ", ".join(f"{k} {show(v)}" for k, v in value.items())
    return str(value)


def table(results: dict) -> str:
    m = results["machine"]
    lines = [f"Earpiece benchmarks on {m['cores']} cores, {m['cpu_model']}, {m['date']}"
             + (" (QUICK: small samples, not comparable)" if results.get("quick") else ""), ""]
    lines.append(f"{'part':<12} {'status':<8} {'time':>7}  note")
    for spec, info in results["parts"].items():
        note = info.get("skipped") or info.get("error") or info.get("warning") or ""
        lines.append(f"{spec:<12} {info['status']:<8} {info['seconds']:>6.1f}s  {note}")
    lines.append("")
    for name, keys in REQUIRED.items():
        if name == "machine":
            continue
        section = results.get(name, {})
        figures = "   ".join(f"{key} {show(section.get(key))}" for key in keys)
        note = section.get("skipped") or section.get("error")
        lines.append(f"{name:<16} {figures}" + (f"   ({note})" if note else ""))
    lines += turn_lines(results) + link_lines(results) + adpcm_lines(results) + accuracy_lines(results)
    plots = results.get("plots") or {}
    if plots:
        lines.append("")
        lines += [f"plot {name:<22} {where}" for name, where in plots.items()]
    return "\n".join(lines)


def turn_lines(results: dict) -> list[str]:
    turns = results.get("turn_latency_ms") or {}
    lines = ["", f"turn latency by voice ({turns.get('voices')})"] if turns.get("by_voice") else []
    for voice, row in (turns.get("by_voice") or {}).items():
        lines.append(f"  {voice:<14} p50 {show(row['p50'])} ms, p95 {show(row['p95'])} ms "
                     f"({row['turns']}/{row['turns_spoken']} turns answered)")
    talk = results.get("conversation") or {}
    if talk.get("questions"):
        lines.append(f"conversation: {talk['questions']} questions, {talk['unanswered']} unanswered; recall "
                     f"{talk.get('recall_answered')}/{talk.get('recall_asked')} answered; first token "
                     f"{show(talk.get('first_token_ms'))} ms; reminders listed {show(talk.get('reminders_listed'))}")
    return lines


def link_lines(results: dict) -> list[str]:
    runs = (results.get("link") or {}).get("runs") or []
    lines = ["", f"link (headline: {results['link'].get('headline_link')})"] if runs else []
    for run in runs:
        cpu = ", ".join(f"{k} {v}%" for k, v in (run.get("cpu_percent") or {}).items())
        lines.append(f"  {run.get('link', '?'):<14} one-way p50 {show(run.get('latency_ms_median'))} ms, p95 "
                     f"{show(run.get('latency_ms_p95'))} ms; CPU {cpu}")
    return lines


def adpcm_lines(results: dict) -> list[str]:
    runtimes = (results.get("adpcm") or {}).get("results") or {}
    lines = ["", "adpcm: median us of CPU per second of audio"] if runtimes else []
    for runtime, operations in runtimes.items():
        lines.append(f"  {runtime:<22} " + "  ".join(f"{op} {figures['median_us']:.0f}"
                                                   for op, figures in sorted(operations.items())))
    return lines


def accuracy_lines(results: dict) -> list[str]:
    lines = []
    wake = results.get("wake_word") or {}
    if wake.get("detection_rate") is not None:
        lines += ["", f"wake word '{wake['model']}' at threshold {wake['threshold']} (default setting, not tuned): "
                  f"detected {wake['detected']}/{wake['wake_clips']} = {100 * wake['detection_rate']:.1f}% "
                  f"(target >= 95%); {wake['false_accepts']} false accepts in {wake['negative_hours']:.3f} h of real "
                  f"audio ({wake['negative_clips']} clips) = {show(wake['false_accepts_per_hour'])}/h "
                  f"(target <= 0.5/h; this corpus resolves only {show(wake.get('false_accepts_per_hour_one_event'))}/h per "
                  f"false accept, 95% upper bound {show(wake.get('false_accepts_per_hour_upper95'))}/h)"]
        for source, row in wake.get("negatives_by_source", {}).items():
            lines.append(f"  {source:<24} {row['clips']:>4} clips {row['hours']:.3f} h  "
                         f"{row['false_accepts']} false accepts")
    asr = results.get("asr") or {}
    if asr.get("wer") is not None:
        lines += ["", f"ASR {asr['engine']}: WER {100 * asr['wer']:.1f}% ({asr['word_errors']} errors / "
                  f"{asr['reference_words']} words, {asr['clips']} clips, real-time factor "
                  f"{show(asr.get('real_time_factor'))})"]
        for engine, wer in (asr.get("wer_by_engine") or {}).items():
            lines.append(f"  engine {engine:<17} WER {show(None if wer is None else 100 * wer)}%")
        for source, row in asr.get("by_source", {}).items():
            lines.append(f"  {source:<24} {row['clips']:>4} clips {row['words']:>5} words  WER "
                         f"{100 * row['wer']:.1f}%" if row["wer"] is not None else f"  {source}: no words")
    return lines


# ---- command line --------------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", help="comma-separated parts to run: " + ", ".join(PARTS))
    parser.add_argument("--quick", action="store_true", help="small samples for a fast check (not comparable)")
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "results.json", help="results file "
                        "(default bench/results.json); plots go beside it")
    parser.add_argument("--total-budget", type=float, default=TOTAL_BUDGET_S, help="seconds for the whole run")
    parser.add_argument("--json", action="store_true", help="print the results as one JSON line instead of a table")
    parser.add_argument("--list", action="store_true", help="list the parts and their budgets")
    # Internal: how the harness runs one part in a child process.
    parser.add_argument("--run-part", help=argparse.SUPPRESS)
    parser.add_argument("--budget", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--out-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--answer", type=Path, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.run_part:
        return run_part_here(args.run_part, args.budget, args.quick, args.out_dir, args.answer)
    specs = [s.strip() for s in args.only.split(",") if s.strip()] if args.only else list(PARTS)
    for spec in specs:
        try:
            load_part(spec)
        except (ImportError, ValueError) as error:
            print(f"bench: unknown part {spec!r} ({error}); choose from {', '.join(PARTS)}", file=sys.stderr)
            return 2
    if args.list:
        for spec in specs:
            print(f"{spec:<10} budget {load_part(spec).BUDGET_S:>5.0f} s   {PARTS.get(spec, spec)}")
        return 0
    out_dir = args.out.resolve().parent
    out_dir.mkdir(parents=True, exist_ok=True)
    results = collect(specs, args.quick, out_dir, args.total_budget)
    from bench import plots  # matplotlib only once results exist: a broken install still leaves the numbers

    results["plots"] = plots.write_all(results, out_dir)
    args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    if args.json:
        print(json.dumps(results))
    else:
        print(table(results))
        print(f"\nresults written to {args.out}")
    failed = [spec for spec, info in results["parts"].items() if info["status"] == "error"]
    if failed:
        print(f"bench: {len(failed)} part(s) failed: {', '.join(failed)} (see 'error' in {args.out})", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
