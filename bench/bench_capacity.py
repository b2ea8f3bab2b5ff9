"""Capacity: how many earbuds one bridge keeps listening for the wake word in real time.

The radio and a swarm of simulated earbuds (`earpiece-sim swarm`: one process, each earbud a full simulated earbud
whose mic replays pre-encoded frames) run as processes; the bridge runs in this process, as `earpiece run` would,
with the default engines. The earbuds are paired once (fixed passkey), then the bridge takes them on in steps of
STEP (until a step sheds earbuds, or a second step fails): after each step every stream must keep up for WINDOW_S
seconds —
  - no dropped frames: no sequence gaps at the bridge, none dropped by an earbud whose link could not keep up,
    none dropped from the bridge's audio queues;
  - none processed later than LATE_LIMIT_MS after capture: frame k of an earbud's stream was captured at the
    swarm's `stream_started_at + k * 20 ms` (its wall clock); it counts as processed when the session has taken
    it in and the wake word model has scored the 80 ms block it completed (not processed yet: processed now).

Past its capacity the bridge sheds the newest earbuds' wake scoring (host/pipeline/wake_load.py) so the others keep
up: a step where some earbuds were shed is judged on the earbuds still served, once the shedding has settled (the
same earbuds shed for SHED_SETTLE_S), and ends the run.

Section `capacity`:
    max_listening_devices   the earbuds of the last step before the first failing one (0 if the first failed)
    overload                the first step with earbuds shed: how many, and whether the served ones kept up
    steps                   per step: devices, ok, lateness (worst, p99, p50 ms), dropped frames, and the link's
                            share of the lateness (capture -> session, before wake scoring)
"""

from __future__ import annotations

import asyncio
import bisect
import json
import logging
import re
import tempfile
import time
from collections import deque
from pathlib import Path

from bench.common import load_engines, percentile, round_or_none

SECTIONS = {"capacity": ("max_listening_devices",)}
BUDGET_S = 300.0

STEP = 8
MAX_DEVICES = 64
QUICK_MAX_DEVICES = 8
WINDOW_S = 8.0  # each step is judged over this long, after SETTLE_S for the new links to connect and settle
SETTLE_S = 3.0
SHED_SETTLE_S = 3.0  # past capacity: the window starts once the same earbuds have been shed this long, scoring caught up
SHED_SETTLE_MAX_S = 20.0
LATE_LIMIT_MS = 200.0
PASSKEY = 246810
FRAME_S = 0.020
PAIR_CONCURRENCY = 3  # more at once overloads the one adapter's scanning

log = logging.getLogger(__name__)


def _mic_wav(engines, path: Path) -> None:
    """Ordinary talk without the wake word (the wake model's cost does not depend on what it hears)."""
    from host.system.demo import write_wav
    from host.pipeline.audio import silence

    lines = ["The meeting moved to Thursday afternoon.", "Could you pass me the salt, please?",
             "It looks like rain again tomorrow."]
    pcm = b"".join(engines.tts.synthesize(line) + silence(0.6) for line in lines)
    write_wav(path, pcm)


class StreamProbe:
    """Stamps when each audio frame of one earbud was processed, and checks it against its capture time."""

    def __init__(self, runner) -> None:
        self.runner = runner
        self.processed_at: list[float] = []
        self._feed = runner.session.feed_audio
        runner.session.feed_audio = self.feed
        self.wake = runner.session.listening_part.wake_detector
        if hasattr(self.wake, "scored_log"):  # batched scoring: keep when each block's score was ready
            self.wake.scored_log = deque(maxlen=100_000)

    async def feed(self, pcm: bytes) -> None:
        await self._feed(pcm)
        self.processed_at.append(time.time())

    def done_at(self, first: int, last: int) -> list[float]:
        """Per frame first..last-1 (those fed so far): when it was fed to the session and (batched scoring) its
        80 ms block was scored."""
        fed = self.processed_at[first:last]
        log = getattr(self.wake, "scored_log", None)
        if log is None:
            return fed
        ends = [end for end, _ in log]
        times = [at for _, at in log]
        done = []
        for k, fed_at in enumerate(fed, first):
            i = bisect.bisect_left(ends, (k + 1) * FRAME_S - 1e-9)
            done.append(max(fed_at, times[i]) if i < len(times) else float("inf"))
        return done

    def lateness_ms(self, stream_started_at: float, since: float, until: float, scored: bool = True) -> list[float]:
        """How late each frame captured in [since, until) was processed, relative to its capture; a frame not
        processed by now counts as processed now. `scored=False`: only until the session got it (the link's part)."""
        now = time.time()
        first = max(0, int((since - stream_started_at) / FRAME_S))
        last = int((until - stream_started_at) / FRAME_S)
        done = self.done_at(first, last) if scored else self.processed_at[first:last]
        late = []
        for k in range(first, last):
            at = done[k - first] if k - first < len(done) else now
            late.append((min(at, now) - (stream_started_at + k * FRAME_S)) * 1000)
        return late

    def shed_blocks(self) -> int:
        session = self.runner.session
        return session.engines.wake_shed_blocks(session.listening_part.audio_clock)

    def dropped(self) -> int:
        stats = self.runner.link.stats
        return stats.sequence_gaps + stats.audio_queue_dropped


async def measure(engines, max_devices: int, deadline: float) -> dict:
    from host.bridge.runner import EarbudRunner
    from host.system.harness import SystemHarness
    from host.system.simulator import SimProcess

    steps: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="earpiece-bench-capacity-") as scratch:
        workdir = Path(scratch)
        mic = workdir / "mic.wav"
        _mic_wav(engines, mic)
        # No earbuds of the harness's own: the swarm is one process of many. The bridge starts with none either.
        async with SystemHarness(engines=engines, workdir=workdir) as system:
            stats_path = workdir / "swarm.json"
            swarm = system.adopt(SimProcess(
                ["swarm", "--radio", system.radio.address, "--count", str(max_devices), "--mic", str(mic),
                 "--state-dir", str(workdir / "swarm"), "--passkey", str(PASSKEY), "--stats", str(stats_path)],
                workdir / "swarm.log"))
            await asyncio.to_thread(swarm.wait_for_line, r"^swarm of \d+ earbuds advertising$", 60 + max_devices)
            addresses = [m.group(1) for line in swarm.lines
                         if (m := re.match(r"^earbud \S+ advertising as ([0-9A-F:]{17})$", line))]
            gate = asyncio.Semaphore(PAIR_CONCURRENCY)

            async def pair(address: str):
                async with gate:
                    for attempt in range(3):
                        try:
                            return await system.pair(address, PASSKEY)
                        except Exception as error:  # noqa: BLE001 - a busy radio: try again
                            log.warning("capacity: pairing %s failed (%s), again", address, error)
                            await asyncio.sleep(0.5)
                    return await system.pair(address, PASSKEY)

            # Pair every earbud first (scripted, fixed passkey): pairing while others stream would load the bridge.
            started = time.monotonic()
            paired = await asyncio.gather(*(pair(address) for address in addresses))
            log.warning("capacity: paired %d earbuds in %.0f s", len(paired), time.monotonic() - started)
            bridge = system.bridge
            probes: dict[str, StreamProbe] = {}
            step_s = 0.0  # how long the last step took: the next one must fit in what is left
            for count in range(STEP, max_devices + 1, STEP):
                if time.monotonic() + max(step_s * 1.3, SETTLE_S + WINDOW_S + 10) > deadline:
                    log.warning("capacity: out of time before %d devices", count)
                    break
                step_started = time.monotonic()
                for device in paired[count - STEP: count]:
                    runner = EarbudRunner(device, engines, system.adapter, bridge.quiet)
                    bridge.runners[device.address] = runner
                    probes[device.address] = StreamProbe(runner)
                    await runner.start()
                await asyncio.gather(*(bridge.runners[d.address].link.wait_connected(timeout=30)
                                       for d in paired[:count]))
                log.warning("capacity: %d earbuds connected after %.0f s", count, time.monotonic() - step_started)
                await asyncio.sleep(SETTLE_S)
                await _settle_shedding(engines, probes)
                dropped_before = {a: p.dropped() for a, p in probes.items()}
                shed_before = {a: p.shed_blocks() for a, p in probes.items()}
                swarm_before = _swarm_drops(_read_swarm(stats_path))
                window_start = time.time()
                await asyncio.sleep(WINDOW_S)
                window_end = time.time()
                await asyncio.sleep(0.6)  # the swarm rewrites its stats twice a second
                swarm_after = json.loads(stats_path.read_text())
                swarm_stats = {e["address"]: e for e in swarm_after["earbuds"]}
                late: list[float] = []
                arrived: list[float] = []
                shed = {a for a, p in probes.items() if p.shed_blocks() > shed_before[a]}
                for address, probe in probes.items():
                    entry = swarm_stats.get(address) or {}
                    if address in shed:  # not listened to (over capacity): judged by the others keeping up
                        continue
                    if entry.get("stream_started_at"):
                        late += probe.lateness_ms(entry["stream_started_at"], window_start, window_end)
                        arrived += probe.lateness_ms(entry["stream_started_at"], window_start, window_end, False)
                dropped = sum(p.dropped() - dropped_before[a] for a, p in probes.items()) \
                    + _swarm_drops(swarm_after) - swarm_before
                worst = max(late) if late else None
                ok = bool(late) and dropped == 0 and worst is not None and worst <= LATE_LIMIT_MS
                step = {"devices": count, "ok": ok, "worst_late_ms": round_or_none(worst, 1),
                        "p99_late_ms": round_or_none(percentile(late, 99), 1),
                        "p50_late_ms": round_or_none(percentile(late, 50), 1),
                        "dropped_frames": dropped, "frames_checked": len(late),
                        # the link's share: from capture to the session taking the frame in (before wake scoring)
                        "worst_arrival_ms": round_or_none(max(arrived) if arrived else None, 1),
                        "p99_arrival_ms": round_or_none(percentile(arrived, 99), 1),
                        "swarm_late_ticks": swarm_after.get("late_ticks"), "shed_devices": len(shed)}
                if shed:
                    step["ok"] = False
                    step["served_ok"] = ok
                steps.append(step)
                step_s = time.monotonic() - step_started
                log.warning("capacity step (%.0f s): %s", step_s, step)
                # Past the first failing step, one more shows how the bridge degrades (it sheds the newest).
                if step["shed_devices"] or sum(not s["ok"] for s in steps) >= 2:
                    break
    first_failed = next((i for i, s in enumerate(steps) if not s["ok"]), len(steps))
    overloaded = next((s for s in steps if s["shed_devices"]), None)
    return {
        "max_listening_devices": steps[first_failed - 1]["devices"] if first_failed else 0,
        "overload": None if overloaded is None else {
            "devices": overloaded["devices"], "shed_devices": overloaded["shed_devices"],
            "served_kept_up": overloaded["served_ok"], "served_worst_late_ms": overloaded["worst_late_ms"]},
        "steps": steps,
        "step": STEP,
        "late_limit_ms": LATE_LIMIT_MS,
        "window_s": WINDOW_S,
        "target": ">= 40 earbuds on 2 cores",
        "method": "radio + `earpiece-sim swarm` (pre-encoded mic frames) as processes, bridge in-process with the "
                  "default engines; a step passes with no dropped frame and every frame processed (session fed, "
                  f"wake model scored) within {LATE_LIMIT_MS:.0f} ms of capture",
    }


async def _settle_shedding(engines, probes: dict[str, StreamProbe]) -> None:
    """Past capacity the bridge sheds the newest earbuds a few at a time, then its backlog drains: judge the ones
    still served once that has settled (the same earbuds shed for SHED_SETTLE_S and the scoring caught up), as a
    user would meet it. Within capacity nothing is shed and the scoring keeps up: no wait."""
    started = time.monotonic()
    counts = {address: probe.shed_blocks() for address, probe in probes.items()}
    last: set[str] = set()
    since = started
    while time.monotonic() - started < SHED_SETTLE_MAX_S:
        await asyncio.sleep(0.5)
        before, counts = counts, {address: probe.shed_blocks() for address, probe in probes.items()}
        shed_now = {address for address in counts if counts[address] > before[address]}
        behind = engines.wake_lag_s() > LATE_LIMIT_MS / 1000
        if not shed_now and not last and not behind:
            return
        if shed_now != last or behind:
            last, since = shed_now, time.monotonic()
        elif time.monotonic() - since >= SHED_SETTLE_S:
            break
    log.warning("capacity: %d earbuds shed; the others judged after %.0f s", len(last), time.monotonic() - started)


def _read_swarm(stats_path: Path) -> dict:
    """The swarm's stats file ({} while it has not written one)."""
    try:
        return json.loads(stats_path.read_text())
    except (OSError, ValueError):
        return {}


def _swarm_drops(swarm: dict) -> int:
    try:
        return sum(e["audio_frames_dropped"] for e in swarm["earbuds"])
    except KeyError:
        return 0


def run(budget_s: float, quick: bool = False, out_dir: Path | None = None) -> dict:
    deadline = time.monotonic() + budget_s
    engines = load_engines()
    try:
        section = asyncio.run(measure(engines, QUICK_MAX_DEVICES if quick else MAX_DEVICES, deadline - 10))
    finally:
        engines.close()
    return {"capacity": section}
