"""A short soak (bench/soak/): radio, two simulated earbuds and `earpiece run` as processes for two minutes on a
fixed seed — questions asked, quiet toggled by switch, CLI and voice, a bridge SIGKILL, the radio killed just after
a wake word, an earbud reboot, a full data disk — and every check of the verdict passes."""

from __future__ import annotations

import json

import pytest

from bench.soak.run import run_soak

pytestmark = pytest.mark.e2e


def test_a_short_soak_passes_every_check(tmp_path, use_models):
    report = run_soak(2.0, 2, 16, tmp_path / "soak.json", None, progress=lambda _line: None)
    summary = {key: report[key] for key in ("failed_checks", "faults_by_kind", "questions", "quiet", "reminders",
                                            "data", "reconnects", "rss", "wedges", "tracebacks")}
    assert report["verdict"] == "pass", json.dumps(summary, indent=1, default=str)
    assert report["faults_by_kind"].get("bridge_kill") == 1 and report["questions"]["asked"] > 0
