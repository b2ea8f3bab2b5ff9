"""Replay a barge-in bench dump through the echo cancellers, offline, in seconds.

`bench.bench_barge_in --dump DIR` keeps what the bridge's canceller was given (`mic_while_replying.wav`, the mic
while a reply sounded, and `reference.wav`, the reply lined up beside it). Run through a fresh `EchoCanceller`
10 ms at a time, they give the figures the whole system gave (a run here gave the bench's 6.0 and 45.3 dB): echo
removed (`echo_return_loss_db_linear`, AEC3's `echo_return_loss_db`), how often the delay estimate moved, and the
linear filters' copies and resets. A change to host/pipeline/linear_echo.py
can be tried here in under 10 s instead of a 6-minute bench run, then confirmed by the bench.

    .venv/bin/python -m bench.bench_barge_in --dump /tmp/bi
    .venv/bin/python tools/replay_echo.py /tmp/bi [--timeline] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import wave
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from host.pipeline.echo_cancel import EchoCanceller  # noqa: E402
from host.pipeline.linear_echo import BLOCK, RATE  # noqa: E402


def read_pcm(path: Path) -> np.ndarray:
    with wave.open(str(path)) as wav:
        if (wav.getframerate(), wav.getsampwidth(), wav.getnchannels()) != (RATE, 2, 1):
            sys.exit(f"{path}: expected 16 kHz 16-bit mono, as bench_barge_in --dump writes it")
        return np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")


def replay(near: np.ndarray, far: np.ndarray, timeline: bool = False) -> dict:
    """Both cancellers as the bridge runs them (`EchoCanceller`), fed 10 ms at a time."""
    canceller = EchoCanceller()
    delays: list[tuple[float, float]] = []
    for start in range(0, min(len(near), len(far)) - BLOCK + 1, BLOCK):
        canceller.process_both(near[start:start + BLOCK].tobytes(), far[start:start + BLOCK].tobytes())
        delay = canceller.linear.delays.delay / RATE
        if not delays or delay != delays[-1][1]:
            delays.append((start / RATE, delay))
    linear = canceller.linear
    report = {"seconds": round(len(near) / RATE, 1),
              "echo_return_loss_db": _rounded(canceller.echo_return_loss_db()),
              "echo_return_loss_db_linear": _rounded(canceller.echo_return_loss_db(linear=True)),
              "delay_changes": linear.delays.changes, "resets": linear.resets, "copies": linear.copies}
    if timeline:
        report["delay_timeline"] = [{"at_s": round(at, 2), "delay_ms": round(d * 1000, 1)} for at, d in delays]
    return report


def _rounded(db: float | None) -> float | None:
    return None if db is None else round(db, 1)


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
    print(f"{report['seconds']} s of mic while replying: echo removed (median per 100 ms) by the linear canceller "
          f"{report['echo_return_loss_db_linear']} dB, by AEC3 {report['echo_return_loss_db']} dB; "
          f"delay moved {report['delay_changes']} times, filter copies {report['copies']}, resets {report['resets']}")
    for point in report.get("delay_timeline", []):
        print(f"  {point['at_s']:8.2f} s  delay {point['delay_ms']:6.1f} ms")


if __name__ == "__main__":
    main()
