"""`python -m bench`: results.json always has every required key, parts that fail or overrun are recorded and
the others still run, plots are real PNGs. Parts here are the stubs and tiny parts written into tmp_path (the
real measurements are far too slow for tests)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from bench.common import REQUIRED

pytestmark = pytest.mark.e2e  # each runs `python -m bench`, whose parts run as processes of their own

REPO = Path(__file__).resolve().parents[2]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def run_bench(tmp_path: Path, *arguments: str, extra_path: Path | None = None) -> tuple[subprocess.CompletedProcess, dict]:
    out = tmp_path / "out" / "results.json"
    env = dict(os.environ, EARPIECE_HOME=str(tmp_path / "home"))
    if extra_path is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(extra_path), str(REPO)])
    done = subprocess.run([sys.executable, "-m", "bench", "--out", str(out), *arguments], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)
    results = json.loads(out.read_text(encoding="utf-8")) if out.is_file() else {}
    return done, results


def assert_every_required_key(results: dict) -> None:
    for section, keys in REQUIRED.items():
        assert section in results, section
        for key in keys:
            assert key in results[section], f"{section}.{key}"


def test_a_quick_run_of_one_part_still_writes_every_required_key(tmp_path):
    done, results = run_bench(tmp_path, "--quick", "--only", "adpcm")
    assert done.returncode == 0, done.stderr
    assert_every_required_key(results)
    assert results["parts"]["adpcm"]["status"] == "ok"
    assert results["turn_latency_ms"]["skipped"] == "not run (--only)"  # not selected: still present, with nulls
    assert results["turn_latency_ms"]["p50"] is None
    assert results["link"]["one_way_ms_p50"] is None
    assert results["machine"]["cores"] == os.cpu_count()
    assert results["machine"]["cpu_model"] and results["machine"]["date"].startswith("20")
    assert results["quick"] is True
    assert results["plots"]["turn_waterfall"].startswith("skipped:")
    assert "turn_latency_ms" in done.stdout and "not run" in done.stdout  # the readable table


def test_json_flag_prints_one_json_line(tmp_path):
    done, results = run_bench(tmp_path, "--quick", "--only", "adpcm", "--json")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1
    assert json.loads(lines[0])["quiet"] == results["quiet"]


def test_unknown_part_is_refused_with_one_line(tmp_path):
    done, results = run_bench(tmp_path, "--only", "nonsense")
    assert done.returncode == 2
    assert results == {}
    assert len(done.stderr.strip().splitlines()) == 1
    assert "unknown part 'nonsense'" in done.stderr and "accuracy" in done.stderr


FAKE_PARTS = {
    "fake_turns": """
        SECTIONS = {"turn_latency_ms": ("p50", "p95", "stages")}
        BUDGET_S = 30

        def run(budget_s, quick=False, out_dir=None):
            samples = [400.0 + 10 * i for i in range(30)]
            return {"turn_latency_ms": {"p50": 545.0, "p95": 676.0, "samples_ms": samples,
                                        "stages": {"uplink": 40.0, "endpoint": 300.0, "asr": 250.0, "tts": 60.0}},
                    "extra_section": {"answer": 42}}
    """,
    "fake_quiet": """
        SECTIONS = {"quiet": ("cpu_percent_per_device",)}
        BUDGET_S = 30

        def run(budget_s, quick=False, out_dir=None):
            return {"quiet": {"cpu_percent_per_device": 0.1, "listening_cpu_percent_per_device": 2.5}}
    """,
    "fake_broken": """
        SECTIONS = {"capacity": ("max_listening_devices",)}
        BUDGET_S = 30

        def run(budget_s, quick=False, out_dir=None):
            raise RuntimeError("the radio fell over")
    """,
    "fake_hanging": """
        import time
        SECTIONS = {"link": ("one_way_ms_p50", "one_way_ms_p95", "reconnect_s")}
        BUDGET_S = 1

        def run(budget_s, quick=False, out_dir=None):
            time.sleep(600)
    """,
}


def test_failing_and_overrunning_parts_are_recorded_and_the_rest_still_runs(tmp_path):
    for name, source in FAKE_PARTS.items():
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(source), encoding="utf-8")
    done, results = run_bench(tmp_path, "--only", "fake_broken,fake_hanging,fake_turns,fake_quiet",
                              extra_path=tmp_path)
    assert done.returncode == 1  # a part failed: say so
    assert "fake_broken" in done.stderr.strip().splitlines()[-1]
    assert_every_required_key(results)
    assert results["parts"]["fake_broken"]["status"] == "error"
    assert results["capacity"] == {"max_listening_devices": None, "error": "RuntimeError: the radio fell over"}
    assert results["parts"]["fake_hanging"]["status"] == "error"
    assert "budget" in results["link"]["error"] and results["link"]["reconnect_s"] is None
    assert results["parts"]["fake_hanging"]["seconds"] < 30
    assert results["turn_latency_ms"]["p95"] == 676.0  # the parts after the broken ones still ran
    assert results["extra_section"] == {"answer": 42}
    for name in ("turn_latency_histogram", "turn_waterfall", "cpu_listening_vs_quiet"):
        path = Path(results["plots"][name])
        assert path.read_bytes()[:8] == PNG_MAGIC, name
    assert results["plots"]["wake_scores"].startswith("skipped:")


def test_accuracy_without_corpus_says_so_and_the_rest_still_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("EARPIECE_CORPUS", str(tmp_path / "no-corpus-here"))
    done, results = run_bench(tmp_path, "--quick", "--only", "accuracy,adpcm")
    assert done.returncode == 0, done.stderr
    for section in ("wake_word", "asr"):
        assert "no corpus at" in results[section]["skipped"]
        assert "EARPIECE_CORPUS" in results[section]["skipped"]
    assert results["wake_word"]["detection_rate"] is None and results["asr"]["wer"] is None
    assert results["parts"]["adpcm"]["status"] == "ok"
