"""Benchmark of the host link: radio, simulated earbud and host (this process) as separate processes.

For each link (ideal; 30 ms interval with 10 % retransmissions) it runs full-duplex ADPCM audio for a few seconds
(earbud mic -> host, and host -> earbud speaker at 50 frames/s) and reports:
- one-way uplink frame latency, median and p95: from the moment the frame's last mic sample existed to its
  arrival in EarbudLink (includes the earbud's 20 ms tick phase, the air and both Bluetooth stacks);
- CPU per process (radio, earbud, host) in percent of one core.
Then, on a radio that cuts the link every few seconds, the time from the host seeing the drop to the link being
usable again (target <= 2 s).

How the latency is timed: the simulated mic plays its WAV on a timeline that starts when the mic is first
switched on, i.e. when the host subscribes to audio up. The mic signal never repeats within its loop, so
aligning the received audio with it tells which mic sample each frame ends with, hence when it was captured.
The subscription is bracketed by its ATT request and response; the midpoint is taken, so the error is at most
half a round trip either way (the whole round trip is given as `timeline_uncertainty_ms`).

    .venv/bin/python bench/bench_link.py [--seconds 8] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
import wave
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import percentile  # noqa: E402
from host.link.earbud_link import EarbudLink  # noqa: E402
from host.system import simulator  # noqa: E402
from host.system.harness import EarbudSpec, SystemHarness  # noqa: E402
from protocol import gatt  # noqa: E402
from protocol.audio import CODEC_ADPCM, FrameEncoder, decode_frame  # noqa: E402

PASSKEY = 123456
SAMPLE_RATE = 16000
FRAME_SAMPLES = 320


def write_mic(path: Path, seconds: float = 6.0) -> np.ndarray:
    rng = np.random.default_rng(11)
    t = np.arange(int(SAMPLE_RATE * seconds)) / SAMPLE_RATE
    pcm = 0.3 * np.sin(2 * np.pi * 523 * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 0.9 * t)) + rng.normal(0, 0.06, t.size)
    samples = np.clip(pcm * 32767, -32768, 32767).astype("<i2")
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(SAMPLE_RATE)
        wav.writeframes(samples.tobytes())
    return samples


def align(source: np.ndarray, received: np.ndarray) -> int:
    n = source.size
    head = np.zeros(n)
    take = received[: n // 2].astype(np.float64)
    head[: take.size] = take
    corr = np.fft.irfft(np.fft.rfft(source.astype(np.float64)) * np.conj(np.fft.rfft(head)), n)
    return int(np.argmax(corr))


async def run_duplex(workdir: Path, label: str, seconds: float, **radio_args) -> dict:
    workdir.mkdir()
    source = write_mic(workdir / "mic.wav")
    spec = EarbudSpec("Bench", mic=[workdir / "mic.wav"], speaker=workdir / "speaker.wav", passkey=PASSKEY)
    async with SystemHarness([spec], bridge=None, radio_args=radio_args, workdir=workdir) as system:
        radio, earbud, adapter = system.radio, system.earbuds[0], system.adapter
        arrivals: list[tuple[float, bytes]] = []
        link = EarbudLink(earbud.address, adapter=adapter, stream_audio=False)
        await link.connect(timeout=30)
        # Subscribe ourselves (each frame stamped as bleak delivers it) to bracket when the mic timeline starts.
        before = time.monotonic()
        await link.client.start_notify(gatt.AUDIO_UP_UUID,
                                       lambda _sender, data: arrivals.append((time.monotonic(), bytes(data))))
        after = time.monotonic()
        timeline_start = (before + after) / 2

        cpu_start = {"radio": simulator.cpu_seconds(radio.proc.pid), "earbud": simulator.cpu_seconds(earbud.proc.pid), "host": time.process_time()}
        wall_start = time.monotonic()
        encoder = FrameEncoder(CODEC_ADPCM)
        tone = (np.sin(2 * np.pi * 330 * np.arange(FRAME_SAMPLES) / SAMPLE_RATE) * 8000).astype("<i2").tobytes()
        next_send = time.monotonic()
        while time.monotonic() - wall_start < seconds:  # downlink at the audio rate, like a reply being played
            for frame in encoder.encode(tone):
                await link.send_audio_frame(frame)
            next_send += FRAME_SAMPLES / SAMPLE_RATE
            await asyncio.sleep(max(0.0, next_send - time.monotonic()))
        wall = time.monotonic() - wall_start
        cpu = {
            "radio": simulator.cpu_seconds(radio.proc.pid) - cpu_start["radio"],
            "earbud": simulator.cpu_seconds(earbud.proc.pid) - cpu_start["earbud"],
            "host": time.process_time() - cpu_start["host"],
        }
        stats = link.stats.to_json()
        await link.close()

    frames = [(t, decode_frame(d)) for t, d in arrivals]
    pcm = np.frombuffer(b"".join(f.pcm() for _, f in frames), dtype="<i2")
    offset = align(source, pcm)
    first_seq = frames[0][1].seq
    # The first frame starts where the mic timeline stood at subscription: sample 0 of the looped WAV + k loops.
    latencies = []
    for arrival, frame in frames:
        index = (frame.seq - first_seq) % 65536
        end_sample = offset + (index + 1) * FRAME_SAMPLES
        captured = timeline_start + end_sample / SAMPLE_RATE
        latencies.append((arrival - captured) * 1000)
    return {
        "link": label,
        "frames_up": len(frames),
        "frames_down": stats["audio_frames_sent"],
        "sequence_gaps": stats["sequence_gaps"],
        "latency_ms_median": round(statistics.median(latencies), 1),
        "latency_ms_p95": round(percentile(latencies, 95), 1),
        "timeline_uncertainty_ms": round((after - before) * 1000, 1),
        "mic_offset_samples": offset,
        "cpu_percent": {name: round(100 * value / wall, 1) for name, value in cpu.items()},
    }


async def run_reconnect(workdir: Path, seconds: float, every_s: float) -> dict:
    events: list[tuple[float, bool]] = []
    async with SystemHarness([EarbudSpec("Bench", passkey=PASSKEY)], bridge=None, workdir=workdir,
                             radio_args={"disconnect_every_s": every_s}) as system:
        link = EarbudLink(system.earbuds[0].address, adapter=system.adapter,
                          on_connection=lambda up: events.append((time.monotonic(), up)))
        await link.connect(timeout=30)
        await asyncio.sleep(seconds)
        stats = link.stats.to_json()
        await link.close()
    times = [b[0] - a[0] for a, b in zip(events, events[1:]) if not a[1] and b[1]]
    return {
        "disconnect_every_s": every_s,
        "reconnects": len(times),
        "reconnect_s_median": round(statistics.median(times), 3) if times else None,
        "reconnect_s_max": round(max(times), 3) if times else None,
        "target_s": 2.0,
        "link_stats": {k: stats[k] for k in ("connects", "disconnects", "connect_failures")},
    }


async def main_async(seconds: float) -> dict:
    with tempfile.TemporaryDirectory(prefix="earpiece-bench-link-") as scratch:
        workdir = Path(scratch)  # a folder (and an EARPIECE_HOME) per run
        ideal = await run_duplex(workdir / "ideal", "ideal", seconds)
        lossy = await run_duplex(workdir / "lossy", "30ms-10pct", seconds, interval_ms=30, retransmit_prob=0.1,
                                 seed=1)
        reconnect = await run_reconnect(workdir / "reconnect", max(seconds, 8.0), every_s=3.0)
    return {"duplex": [ideal, lossy], "reconnect": reconnect}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=8.0, help="seconds of audio per link (default 8)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    result = asyncio.run(main_async(args.seconds))
    if args.json:
        print(json.dumps(result))
        return
    for d in result["duplex"]:
        cpu = ", ".join(f"{k} {v}%" for k, v in d["cpu_percent"].items())
        half = d['timeline_uncertainty_ms'] / 2
        print(f"{d['link']:<11} uplink latency median {d['latency_ms_median']} ms, p95 {d['latency_ms_p95']} ms "
              f"(±{half:.1f} ms); frames up {d['frames_up']}, down {d['frames_down']}, "
              f"gaps {d['sequence_gaps']}; CPU {cpu}")
    r = result["reconnect"]
    print(f"reconnect   {r['reconnects']} forced drops: median {r['reconnect_s_median']} s, max {r['reconnect_s_max']} s "
          f"(target <= {r['target_s']} s)")


if __name__ == "__main__":
    main()
