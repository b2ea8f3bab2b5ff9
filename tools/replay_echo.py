"""Replay a barge-in bench dump through the echo cancellers, offline, in seconds.

`bench.bench_barge_in --dump DIR` keeps what the bridge's canceller was given (`mic_while_replying.wav`, the mic
while a reply sounded, and `reference.wav`, the reply lined up beside it). Run through a fresh `EchoCanceller`
10 ms at a time, they give the figures the whole system gave (a run here gave the bench's 6.0 and 45.3 dB): echo
removed (`echo_return_loss_db_linear`, AEC3's `echo_return_loss_db`), how often the delay estimate moved, and the
linear filters' copies and resets. A change to host/pipeline/linear_echo.py
can be tried here in under 10 s instead of a 6-minute bench run, then confirmed by the bench.

With `--uplink` the reference itself is rebuilt from what the bridge's uplink was told and when
(`uplink_events.jsonl`: the mic's chunks as they arrived, the frames the pacer sent with its estimate of when they
play), so a change to host/bridge/echo_reference.py can be tried the same way. `--lags` prints, for each stretch of
reply, how far the echo sat behind the reference in its first 0.3 s and after (they should agree).

    .venv/bin/python -m bench.bench_barge_in --dump /tmp/bi
    .venv/bin/python tools/replay_echo.py /tmp/bi [--uplink] [--lags] [--timeline] [--json]
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
import wave
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from host.bridge.echo_reference import EchoCancelledUplink  # noqa: E402
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


def rebuild_uplink(events_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """The mic's audio and the reference the uplink lines up beside it, rebuilt by today's EchoCancelledUplink from
    the calls the bridge made into it during the bench (on the bench's clock)."""
    now = 0.0
    uplink = EchoCancelledUplink(clock=lambda: now)
    near: list[bytes] = []
    far: list[bytes] = []
    process = uplink.canceller.process_both

    def process_and_keep(n: bytes, f: bytes) -> tuple[bytes, bytes]:
        near.append(n)
        far.append(f)
        return process(n, f)

    uplink.canceller.process_both = process_and_keep
    with events_path.open() as lines:
        for line in lines:
            event = json.loads(line)
            now = event["t"]
            if event["kind"] == "mic":
                uplink.cancel(base64.b64decode(event["pcm"]))
            elif event["kind"] == "frame":
                uplink.frame_sent(base64.b64decode(event["frame"]), event["plays_at"])
            elif event["kind"] == "stopped":
                uplink.stopped(event["at"])
            # "report" and "cue" events are the pacer's: its estimates already came with each frame's plays_at
    return (np.frombuffer(b"".join(near), dtype="<i2"), np.frombuffer(b"".join(far), dtype="<i2"))


def lags(near: np.ndarray, far: np.ndarray) -> list[dict]:
    """For each stretch of reference after 0.3 s of silence: the echo's lag behind it (ms) and the correlation's
    peak (0..1), over its first 0.3 s and over the 1 s after its first half second."""
    quiet = round(0.3 * RATE)
    loud = np.abs(far.astype(np.int32)) > 100
    starts, silent = [], quiet
    for i in range(0, len(far), BLOCK):
        if loud[i:i + BLOCK].any():
            if silent >= quiet:
                starts.append(i)
            silent = 0
        else:
            silent += BLOCK
    out = []
    for start in starts:
        row = {"at_s": round(start / RATE, 2)}
        for name, lo, hi in (("first", 0.0, 0.3), ("later", 0.5, 1.5)):
            row[name] = _lag(near, far, start + round(lo * RATE), start + round(hi * RATE))
        out.append(row)
    return out


def _lag(near: np.ndarray, far: np.ndarray, lo: int, hi: int, reach_s: float = 0.6) -> tuple[float, float] | None:
    reach = round(reach_s * RATE)
    if hi + reach > len(near) or hi > len(far):
        return None
    ref = far[lo:hi].astype(np.float64)
    mic = near[lo:hi + reach].astype(np.float64)
    if not ref.any():
        return None
    n = 1 << int(np.ceil(np.log2(len(ref) + len(mic))))
    cross = np.fft.irfft(np.fft.rfft(mic, n) * np.conj(np.fft.rfft(ref, n)), n)[:reach]
    lag = int(np.argmax(np.abs(cross)))
    norm = np.sqrt(np.dot(ref, ref) * np.dot(mic[lag:lag + len(ref)], mic[lag:lag + len(ref)])) or 1.0
    return round(lag / RATE * 1000), round(float(abs(cross[lag]) / norm), 2)


def _rounded(db: float | None) -> float | None:
    return None if db is None else round(db, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dump", type=Path, help="the folder bench_barge_in --dump wrote")
    parser.add_argument("--timeline", action="store_true", help="also list every move of the delay estimate")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--uplink", action="store_true",
                        help="rebuild the reference from uplink_events.jsonl with today's host/bridge/echo_reference.py")
    parser.add_argument("--lags", action="store_true", help="also list the echo's lag at each reply's start and after")
    args = parser.parse_args()
    names = ("uplink_events.jsonl",) if args.uplink else ("mic_while_replying.wav", "reference.wav")
    paths = [args.dump / name for name in names]
    for path in paths:
        if not path.is_file():
            sys.exit(f"{path} not found: write a dump with `.venv/bin/python -m bench.bench_barge_in --dump "
                     f"{args.dump}`")
    near, far = rebuild_uplink(paths[0]) if args.uplink else (read_pcm(path) for path in paths)
    report = replay(near, far, timeline=args.timeline)
    if args.lags:
        report["lags"] = lags(near, far)
    if args.json:
        print(json.dumps(report))
        return
    print(f"{report['seconds']} s of mic while replying: echo removed (median per 100 ms) by the linear canceller "
          f"{report['echo_return_loss_db_linear']} dB, by AEC3 {report['echo_return_loss_db']} dB; "
          f"delay moved {report['delay_changes']} times, filter copies {report['copies']}, resets {report['resets']}")
    for point in report.get("delay_timeline", []):
        print(f"  {point['at_s']:8.2f} s  delay {point['delay_ms']:6.1f} ms")
    for row in report.get("lags", []):
        print(f"  reply at {row['at_s']:8.2f} s: echo lag (ms, peak) first 0.3 s {row['first']}, after {row['later']}")


if __name__ == "__main__":
    main()
