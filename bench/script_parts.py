"""Benchmarks that are scripts of their own (bench_adpcm.py, bench_link.py), run as subprocesses with their
documented command lines; their JSON is mapped onto results.json sections here, so the scripts stay standalone."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from bench.common import BENCH_DIR, ROOT


class ScriptError(RuntimeError):
    """The script failed or printed no JSON; the message carries the end of its error output."""


def run_script(script: str, arguments: list[str], timeout_s: float) -> dict:
    """Run bench/<script> with this Python and return the last JSON object it printed on stdout."""
    command = [sys.executable, str(BENCH_DIR / script), *arguments]
    try:
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise ScriptError(f"{script} took longer than {timeout_s:.0f} s") from None
    sys.stderr.write(done.stderr[-4000:])  # its own readable summary and logs, for whoever watches
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["(no error output)"])[-1]
        raise ScriptError(f"{script} exited with {done.returncode}: {tail[:300]}")
    for line in reversed(done.stdout.strip().splitlines()):
        if line.startswith("{"):
            try:
                return json.loads(line)
            except json.JSONDecodeError:
                continue
    raise ScriptError(f"{script} printed no JSON object on stdout")


@dataclass(frozen=True)
class ScriptPart:
    """A part (see bench/common.py) made of a script and a mapping of its JSON onto sections."""

    SECTIONS: dict[str, tuple[str, ...]]
    BUDGET_S: float
    arguments: Callable[[bool], list[str]]  # quick -> command-line arguments
    script: str
    to_sections: Callable[[dict], dict]

    def run(self, budget_s: float, quick: bool = False, out_dir: Path | None = None) -> dict:
        return self.to_sections(run_script(self.script, self.arguments(quick), budget_s))


def adpcm_sections(report: dict) -> dict:
    return {"adpcm": {"unit": report.get("unit"), "repetitions": report.get("repetitions"),
                      "results": report.get("results")}}


def link_sections(report: dict) -> dict:
    """Headline figures from the most realistic link the script measured (the last: 30 ms connection interval
    with retransmissions; the first is an ideal link), every run kept under `runs`."""
    runs = report.get("duplex") or []
    headline = runs[-1] if runs else {}
    reconnect = report.get("reconnect") or {}
    return {"link": {
        "one_way_ms_p50": headline.get("latency_ms_median"),
        "one_way_ms_p95": headline.get("latency_ms_p95"),
        "reconnect_s": reconnect.get("reconnect_s_median"),
        "reconnect_s_max": reconnect.get("reconnect_s_max"),
        "headline_link": headline.get("link"),
        "runs": runs,
        "reconnect": reconnect,
    }}


ADPCM = ScriptPart({"adpcm": ()}, 90.0, lambda quick: ["--repetitions", "3" if quick else "15"], "bench_adpcm.py",
                   adpcm_sections)
LINK = ScriptPart({"link": ("one_way_ms_p50", "one_way_ms_p95", "reconnect_s")}, 150.0,
                  lambda quick: ["--json", "--seconds", "3" if quick else "8"], "bench_link.py", link_sections)
