"""Cost of quiet mode: host CPU per connected earbud while it is quiet, against while listening.

Radio, N simulated earbuds and the bridge (`earpiece run`) run as separate processes, as a user runs them; the
earbuds' mics play speech (not the wake word) in a loop, so listening means the wake-word model and the VAD run
on real audio all the time. The bridge's CPU time (user + system, from /proc) is read over a window while every
earbud listens, then over a window after `earpiece quiet on`. Per device = the bridge process's total / N.

Section `quiet` (percent of one core, host process):
    cpu_percent_per_device             per earbud in quiet mode (nothing streamed, nothing processed); target <= 0.5
    listening_cpu_percent_per_device   per earbud listening for the wake word (the plot compares the two)

    .venv/bin/python -m bench.bench_quiet [--quick] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from bench.common import Unavailable, install_models
from host.system.harness import EARPIECE
from host.system.simulator import cpu_seconds

SECTIONS = {"quiet": ("cpu_percent_per_device",)}
BUDGET_S = 90.0
TARGET_QUIET_PERCENT = 0.5
SPEECH = "The weather is mild today. The birds are singing in the garden, and the tea is getting cold."


async def cpu_percent(pid: int, seconds: float) -> float:
    """Percent of one core the process used over the next `seconds`."""
    cpu, wall = cpu_seconds(pid), time.monotonic()
    await asyncio.sleep(seconds)
    return 100 * (cpu_seconds(pid) - cpu) / (time.monotonic() - wall)


def write_mic(path: Path) -> None:
    """Speech (espeak-ng), then a pause, looped by the earbud: the mic is never silent for long."""
    from host.system.demo import write_wav
    from host.pipeline.audio import read_wav, silence

    spoken = path.with_suffix(".espeak.wav")
    subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(spoken), SPEECH], check=True, capture_output=True)
    write_wav(path, read_wav(spoken) + silence(1.0))


async def measure(models_root: Path, devices: int, window_s: float) -> dict:
    from host.system.harness import EarbudSpec, SystemHarness, bridge_env

    with tempfile.TemporaryDirectory(prefix="earpiece-bench-quiet-") as scratch:
        workdir = Path(scratch)
        mic = workdir / "mic.wav"
        write_mic(mic)
        earbuds = [EarbudSpec(f"Earpiece-Bench-{index}", mic=[mic]) for index in range(devices)]
        async with SystemHarness(earbuds, bridge="process", workdir=workdir,
                                 env={"EARPIECE_MODELS_DIR": str(models_root)}) as system:
            bridge = system.bridge_process
            await asyncio.sleep(3.0)  # past connection set-up and the wake-word model's start-up
            listening = await cpu_percent(bridge.pid, window_s)
            before = bridge.devices()
            env = bridge_env(system.home, system.radio, EARPIECE_MODELS_DIR=str(models_root))
            subprocess.run([str(EARPIECE), "quiet", "on", "--json"], env=env, check=True, capture_output=True,
                           timeout=60)
            await asyncio.sleep(2.0)  # frames already on the air when quiet began
            during = bridge.devices()
            quiet = await cpu_percent(bridge.pid, window_s)
            after = bridge.devices()
    processed = sum(a["frames_processed"] - d["frames_processed"] for a, d in zip(after, during))
    received = sum(a["audio_frames_received"] - d["audio_frames_received"] for a, d in zip(after, during))
    wake = sum(d["wake_detections"] for d in before)
    return {
        "cpu_percent_per_device": round(quiet / devices, 3),
        "listening_cpu_percent_per_device": round(listening / devices, 3),
        "bridge_cpu_percent_quiet": round(quiet, 3),
        "bridge_cpu_percent_listening": round(listening, 3),
        "devices": devices,
        "window_s": window_s,
        # /proc counts CPU in clock ticks: below this a window reads 0.
        "resolution_percent_per_device": round(100 / os.sysconf("SC_CLK_TCK") / window_s / devices, 3),
        "frames_received_in_quiet_window": received,
        "frames_processed_in_quiet_window": processed,
        "wake_detections_while_listening": wake,
        "target": f"quiet <= {TARGET_QUIET_PERCENT} % of one core per device",
        "meets_target": quiet / devices <= TARGET_QUIET_PERCENT,
        "method": "earpiece run as its own process (radio and earbuds as earpiece-sim processes); /proc CPU "
                  "time of the bridge over each window, divided by the number of earbuds",
    }


def run(budget_s: float, quick: bool = False, out_dir: Path | None = None) -> dict:
    root = install_models()
    if shutil.which("espeak-ng") is None:
        raise Unavailable("espeak-ng is not installed (the mic's speech is synthesized with it)")
    devices, window_s = (1, 5.0) if quick else (2, min(15.0, max(5.0, (budget_s - 40) / 2)))
    return {"quiet": asyncio.run(measure(root, devices, window_s))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="one earbud, 5 s windows")
    parser.add_argument("--json", action="store_true", help="print one JSON object on one line")
    args = parser.parse_args()
    result = run(BUDGET_S, args.quick)["quiet"]
    if args.json:
        print(json.dumps(result))
        return
    print(f"listening  {result['listening_cpu_percent_per_device']:.2f} % of a core per earbud")
    print(f"quiet      {result['cpu_percent_per_device']:.2f} % of a core per earbud "
          f"(target <= {TARGET_QUIET_PERCENT}; {result['devices']} earbud(s), {result['window_s']:.0f} s windows)")


if __name__ == "__main__":
    main()
