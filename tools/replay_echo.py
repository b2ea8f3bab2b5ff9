"""Replay a barge-in bench dump through the linear echo canceller, offline, in seconds.

`bench.bench_barge_in --dump DIR` keeps what the bridge's canceller was given (`mic_while_replying.wav`, the mic
while a reply sounded, and `reference.wav`, the reply lined up beside it). Run through a fresh
`LinearEchoCanceller` block by block, they give the same figures the whole system gave (the canceller is
deterministic): echo removed (median over 100 ms blocks while the reply sounds, as `echo_return_loss_db_linear`),
how often the delay estimate moved, and the filters' copies and resets. A change to host/pipeline/linear_echo.py
can be tried here in about 20 s instead of a 6-minute bench run, then confirmed by the bench.

    .venv/bin/python -m bench.bench_barge_in --dump /tmp/bi
    .venv/bin/python tools/replay_echo.py /tmp/bi [--timeline] [--json]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import wave
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from host.pipeline.echo_cancel import ACTIVE_FAR_RMS, BLOCK_FRAMES  # noqa: E402
from host.pipeline.linear_echo import BLOCK, RATE, LinearEchoCanceller  # noqa: E402


def read_pcm(path: Path) -> np.ndarray:
    with wave.open(str(path)) as wav:
        if (wav.getframerate(), wav.getsampwidth(), wav.getnchannels()) != (RATE, 2, 1):
            sys.exit(f"{path}: expected 16 kHz 16-bit mono, as bench_barge_in --dump writes it")
        return np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")


def replay(near: np.ndarray, far: np.ndarray, timeline: bool = False) -> dict:
    canceller = LinearEchoCanceller()
    losses: list[float] = []
    block = [0.0, 0.0, 0]  # mic energy, output energy, 10 ms blocks (as EchoCanceller counts them)
    delays: list[tuple[float, float]] = []
    for start in range(0, min(len(near), len(far)) - BLOCK + 1, BLOCK):
        n, f = near[start:start + BLOCK], far[start:start + BLOCK]
        out = canceller.process(n, f)
        if not delays or canceller.delays.delay / RATE != delays[-1][1]:
            delays.append((start / RATE, canceller.delays.delay / RATE))
        if np.sqrt(np.mean(f.astype(np.float64) ** 2)) > ACTIVE_FAR_RMS:
            block[0] += float(np.sum(n.astype(np.float64) ** 2))
            block[1] += float(np.sum(out ** 2))
            block[2] += 1
            if block[2] == BLOCK_FRAMES:
                if block[0] > 0:
                    losses.append(10 * math.log10(block[0] / max(block[1], 1.0)))
                block = [0.0, 0.0, 0]
    report = {"seconds": round(len(near) / RATE, 1),
              "echo_return_loss_db_linear": round(statistics.median(losses), 1) if losses else None,
              "delay_changes": canceller.delays.changes, "resets": canceller.resets, "copies": canceller.copies}
    if timeline:
        report["delay_timeline"] = [{"at_s": round(at, 2), "delay_ms": round(d * 1000, 1)} for at, d in delays]
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dump", type=Path, help="the folder bench_barge_in --dump wrote")
    parser.add_argument("--timeline", action="store_true", help="also list every move of the delay estimate")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    paths = [args.dump / name for name in ("mic_while_replying.wav", "reference.wav")]
    for path in paths:
        if not path.is_file():
            sys.exit(f"{path} not found: write a dump with `.venv/bin/python -m bench.bench_barge_in --dump "
                     f"{args.dump}`")
    report = replay(*(read_pcm(path) for path in paths), timeline=args.timeline)
    if args.json:
        print(json.dumps(report))
        return
    print(f"{report['seconds']} s of mic while replying: echo removed {report['echo_return_loss_db_linear']} dB "
          f"(median per 100 ms), delay moved {report['delay_changes']} times, "
          f"filter copies {report['copies']}, resets {report['resets']}")
    for point in report.get("delay_timeline", []):
        print(f"  {point['at_s']:8.2f} s  delay {point['delay_ms']:6.1f} ms")


if __name__ == "__main__":
    main()
