"""PNG plots of the results (matplotlib, Agg backend: no display needed).

Each plot reads only results.json sections (plus accuracy_details.json for the wake-score plot) and is skipped,
with the reason recorded, when its data was not measured.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

log = logging.getLogger(__name__)


class NoData(Exception):
    """The results hold nothing to plot; the message says what is missing."""


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def turn_latency_histogram(results: dict, path: Path) -> None:
    samples = (results.get("turn_latency_ms") or {}).get("samples_ms")
    if not samples:
        raise NoData("no turn_latency_ms.samples_ms")
    section = results["turn_latency_ms"]
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(7, 4))
    axes.hist(samples, bins=min(40, max(5, len(samples) // 3)), color="#4c72b0")
    for key, style in (("p50", "-"), ("p95", "--")):
        if section.get(key) is not None:
            axes.axvline(section[key], color="black", linestyle=style, label=f"{key} {section[key]:.0f} ms")
    axes.set(title=f"Turn latency ({len(samples)} turns)", xlabel="end of speech -> first reply audio (ms)",
             ylabel="turns")
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def turn_waterfall(results: dict, path: Path) -> None:
    stages = (results.get("turn_latency_ms") or {}).get("stages")
    if not stages or not isinstance(stages, dict):
        raise NoData("no turn_latency_ms.stages")
    plt = _pyplot()
    names, durations = list(stages), [float(v) for v in stages.values()]
    figure, axes = plt.subplots(figsize=(8, 0.5 * len(names) + 1.5))
    start = 0.0
    for row, (name, duration) in enumerate(zip(names, durations)):
        axes.barh(row, duration, left=start, color="#55a868")
        axes.text(start + duration, row, f" {duration:.0f} ms", va="center", fontsize=8)
        start += duration
    axes.set_yticks(range(len(names)), names)
    axes.invert_yaxis()
    axes.set(title=f"A typical turn, stage by stage (total {start:.0f} ms)", xlabel="ms since end of speech")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def cpu_listening_vs_quiet(results: dict, path: Path) -> None:
    quiet = results.get("quiet") or {}
    listening, silent = quiet.get("listening_cpu_percent_per_device"), quiet.get("cpu_percent_per_device")
    if listening is None or silent is None:
        raise NoData("needs quiet.listening_cpu_percent_per_device and quiet.cpu_percent_per_device")
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(6, 4))
    width = 0.38
    for offset, (label, value, colour) in enumerate((("listening", listening, "#c44e52"),
                                                      ("quiet", silent, "#8172b2"))):
        bars = axes.bar([(offset - 0.5) * width], [float(value)], width, label=label, color=colour)
        axes.bar_label(bars, fmt="%.2f", fontsize=8)
    axes.set_xticks([0], ["host"])
    axes.set(title="CPU per earbud: listening vs quiet", ylabel="% of one core")
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def wake_scores(results: dict, path: Path) -> None:
    details_path = path.with_name("accuracy_details.json")
    wake = results.get("wake_word") or {}
    if wake.get("threshold") is None or wake.get("detection_rate") is None or not details_path.is_file():
        raise NoData("no wake-word accuracy results")
    clips = json.loads(details_path.read_text(encoding="utf-8"))["wake"]
    positives = [c["max_score"] for c in clips if c["kind"] == "wake"]
    negatives = [c["max_score"] for c in clips if c["kind"] != "wake"]
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(7, 4))
    bins = [i / 40 for i in range(41)]
    axes.hist([negatives, positives], bins=bins, label=[f"negatives + speech ({len(negatives)})",
                                                        f"'{wake.get('model')}' ({len(positives)})"],
              color=["#8c8c8c", "#4c72b0"])
    axes.axvline(wake["threshold"], color="black", linestyle="--", label=f"threshold {wake['threshold']}")
    axes.set_yscale("log")
    axes.set(title="Highest wake-word score per clip (human recordings)", xlabel="score", ylabel="clips")
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


PLOTS = {
    "turn_latency_histogram": turn_latency_histogram,
    "turn_waterfall": turn_waterfall,
    "cpu_listening_vs_quiet": cpu_listening_vs_quiet,
    "wake_scores": wake_scores,
}


def write_all(results: dict, out_dir: Path) -> dict[str, str]:
    """Draw every plot whose data exists into out_dir/NAME.png: {name: path, or "skipped: why"/"error: what"}."""
    written = {}
    for name, draw in PLOTS.items():
        path = out_dir / f"{name}.png"
        try:
            draw(results, path)
            written[name] = str(path)
        except NoData as why:
            path.unlink(missing_ok=True)  # an old run's plot would pass for this run's
            written[name] = f"skipped: {why}"
        except Exception as error:  # noqa: BLE001 - a plot must never cost the numbers
            log.warning("plot %s failed: %s", name, error)
            written[name] = f"error: {type(error).__name__}: {error}"
    return written
