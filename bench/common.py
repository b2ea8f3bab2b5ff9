"""What every benchmark part shares: the results layout, the part interface, and small helpers.

A part is a module with
    SECTIONS: dict[str, tuple[str, ...]]   results.json sections it fills -> their required keys
    BUDGET_S: float                        seconds it may take (the harness kills it after that, plus a grace)
    run(budget_s: float, quick: bool, out_dir: Path | None) -> dict[str, dict]
                                           {section: {key: value, ...}}; out_dir is the results file's folder,
                                           for files of the part's own (e.g. accuracy_details.json)
`run` raises `Unavailable` when it cannot measure here (no corpus, not written yet): the harness then records the
sections with null values and a "skipped" note, and goes on with the other parts.
"""

from __future__ import annotations

import datetime
import math
import os
import platform
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH_DIR = ROOT / "bench"

# results.json: section -> keys it must always have (null when not measured).
REQUIRED: dict[str, tuple[str, ...]] = {
    "turn_latency_ms": ("p50", "p95", "stages"),
    "capacity": ("max_listening_devices",),
    "quiet": ("cpu_percent_per_device",),
    "link": ("one_way_ms_p50", "one_way_ms_p95", "reconnect_s"),
    "wake_word": ("detection_rate", "false_accepts_per_hour", "false_accepts", "negative_hours", "threshold"),
    "asr": ("wer", "engine", "wer_by_engine"),
    "end_of_turn": ("cutoff_rate", "early_commit_rate"),
    "conversation": ("model_turn_ms", "skill_turn_ms", "recall", "tokens_per_s", "model"),
    "listening": ("wake_detection_rate", "false_accepts_per_hour", "false_accepts_per_hour_near_miss", "wake_rejected"),
    "wearer_only": ("false_accept_rate", "false_reject_rate"),
    "barge_in": ("barge_in", "echo_return_loss_db"),
    "noise": ("wake_rate_by_engine", "wer_by_engine", "cpu_ms_per_audio_s", "delay_ms"),
    "wyoming": ("asr_ms_p50", "asr_ms_p95", "in_process_asr_ms_p50", "in_process_asr_ms_p95"),
    "reliability": ("faults_injected", "turns_answered_ratio", "reconnect_s_p95", "rss_growth_ratio", "data_lost"),
    "machine": ("cores", "cpu_model", "date"),
}


class Unavailable(Exception):
    """The part cannot measure on this machine; the message says why (and what would make it work)."""


def install_models() -> Path:
    """Install the models if `make` has not (idempotent); returns their folder. Raises Unavailable without them."""
    from host import models

    root = models.models_dir()
    try:
        models.install(root)
    except models.ModelError as error:
        raise Unavailable(f"models missing: {error}") from None
    return root


def load_engines(conversation_model: bool = False):
    """The default engines, models installed first (the conversation model only for the parts that measure it)."""
    from host import models
    from host.pipeline.engines import Engines

    install_models()
    try:
        return Engines.load(conversation_model=conversation_model)
    except models.ModelError as error:
        raise Unavailable(f"models missing: {error}") from None


def empty_sections(sections: dict[str, tuple[str, ...]], note_key: str, note: str) -> dict[str, dict]:
    """Every required key as null, plus a note ("skipped" or "error") saying why."""
    return {name: {**{key: None for key in keys}, note_key: note} for name, keys in sections.items()}


def percentile(values: list[float], p: float) -> float | None:
    """The p-th percentile (0..100), linear between ranks like numpy's default; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * p / 100
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def round_or_none(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def corpus_dir() -> Path:
    """The shared corpus of human recordings: $EARPIECE_CORPUS, else `<repo>/../shared/corpus`."""
    override = os.environ.get("EARPIECE_CORPUS")
    return Path(override).expanduser() if override else ROOT.parent / "shared" / "corpus"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict:
    return {
        "cores": os.cpu_count(),
        "cpu_model": cpu_model(),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
