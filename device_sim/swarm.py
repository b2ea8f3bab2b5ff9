"""Many simulated earbuds in one process, for load tests of the host (`earpiece-sim swarm`).

Each swarm earbud is a full `SimulatedEarbud` on the radio — its own address, bonds, pairing (fixed passkey), GATT
service, status and control, the firmware core — except for the mic: instead of reading and ADPCM-encoding its
mic in Python every 20 ms (as costly as what we want to measure on the host), it replays frames encoded once
from the WAV, each earbud from its own offset, with its own sequence numbers. One 20 ms tick drives them all.

Per earbud the swarm records when its current audio stream began (`stream_started_at`, wall clock) and how many
frames it has produced since: frame k of a stream was captured at `stream_started_at + k * 20 ms`, which is how
a benchmark measures how late the host processes audio.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from device_sim.audio_files import load_wav_16k_mono
from device_sim.earbud import TICK_S, EarbudOptions, SimulatedEarbud
from device_sim.sim_hal import write_json_atomic
from protocol.audio import CODEC_ADPCM, FLAG_START, AudioFrame, FrameEncoder, decode_frame

logger = logging.getLogger(__name__)

STATS_EVERY_S = 0.5


def encode_clip(pcm: bytes) -> list[AudioFrame]:
    """The clip as ADPCM frames (payload and codec state each), ready to be re-stamped with any sequence number."""
    encoder = FrameEncoder(CODEC_ADPCM)
    frames = [decode_frame(data) for data in encoder.encode(pcm) + encoder.flush()]
    if not frames:
        raise ValueError("the mic WAV holds no audio")
    return frames


class SwarmEarbud(SimulatedEarbud):
    """A simulated earbud whose mic replays pre-encoded frames, ticked by the swarm."""

    def __init__(self, options: EarbudOptions, announce: Callable[[str], None], clip: list[AudioFrame],
                 offset: int) -> None:
        super().__init__(options, announce)
        self._clip = clip
        self._position = offset % len(clip)
        self._seq = 0
        self.was_streaming = False
        self.stream_started_at: float | None = None
        self.stream_frames = 0

    async def _tick_loop(self) -> None:
        """The swarm ticks every earbud from one loop (one timer instead of hundreds)."""

    def _mic_frames(self) -> list[bytes]:
        streaming = self.core.streaming and self.link.connection is not None and not self.core.quiet
        if streaming and not self.was_streaming:
            self._seq, self.stream_frames = 0, 0
            self.stream_started_at = time.time()
        self.was_streaming = streaming
        if not streaming:
            return []
        source = self._clip[self._position]
        self._position = (self._position + 1) % len(self._clip)
        flags = FLAG_START if self._seq == 0 else 0
        frame = AudioFrame(CODEC_ADPCM, self._seq & 0xFFFF, flags, source.payload, source.predictor, source.index)
        self._seq += 1
        self.stream_frames += 1
        self.counters["audio_frames_encoded"] += 1
        return [frame.encode()]

    def swarm_stats(self) -> dict:
        return {
            "name": self.options.name,
            "address": self.address,
            "connected": self.link.connection is not None,
            "streaming": self.was_streaming,
            "stream_started_at": self.stream_started_at,
            "stream_frames": self.stream_frames,
            "audio_frames_sent": self.counters["audio_frames_sent"],
            "audio_frames_dropped": self.counters["audio_frames_dropped"],
        }


@dataclass
class SwarmOptions:
    radio: str
    count: int
    mic: Path
    state_dir: Path
    name_prefix: str = "Earpiece-Swarm"
    passkey: int = 123456
    stats: Path | None = None


class Swarm:
    def __init__(self, options: SwarmOptions, announce: Callable[[str], None]) -> None:
        if options.count < 1:
            raise ValueError("--count must be at least 1")
        self.options = options
        self.announce = announce
        self.earbuds: list[SwarmEarbud] = []
        self._stopping = asyncio.Event()
        self.late_ticks = 0  # ticks that ran more than a tick late (the swarm itself could not keep up)

    async def start(self) -> None:
        clip = encode_clip(load_wav_16k_mono(self.options.mic))
        clips_dir = self.options.state_dir / "clips"
        for index in range(self.options.count):
            name = f"{self.options.name_prefix}-{index:03d}"
            state_dir = self.options.state_dir / name
            state_dir.mkdir(parents=True, exist_ok=True)
            shared = state_dir / "clips"
            if not shared.exists():
                clips_dir.mkdir(parents=True, exist_ok=True)
                shared.symlink_to(clips_dir.resolve(), target_is_directory=True)  # spoken digits made once
            options = EarbudOptions(radio=self.options.radio, name=name, state_dir=state_dir,
                                    passkey=self.options.passkey)
            # Offsets spread the earbuds over the clip, as many wearers would not speak in unison.
            earbud = SwarmEarbud(options, self.announce, clip, offset=index * len(clip) // self.options.count)
            await earbud.start()
            self.earbuds.append(earbud)
        self.announce(f"swarm of {len(self.earbuds)} earbuds advertising")

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        """Tick every earbud every 20 ms until stopped, writing --stats twice a second."""
        next_tick = time.monotonic()
        next_stats = next_tick
        try:
            while not self._stopping.is_set():
                next_tick += TICK_S
                delay = next_tick - time.monotonic()
                if delay < -TICK_S:
                    self.late_ticks += 1
                    if delay < -0.2:  # stalled: resync rather than burst
                        next_tick = time.monotonic()
                await asyncio.sleep(max(0.0, delay))
                for earbud in self.earbuds:
                    try:
                        await earbud._tick()
                    except Exception:  # one earbud's bad tick must not stop the others
                        logger.exception("%s: tick failed", earbud.options.name)
                if time.monotonic() >= next_stats:
                    next_stats += STATS_EVERY_S
                    self.write_stats()
        finally:
            self.write_stats()
            for earbud in self.earbuds:
                await earbud.close()

    def stats(self) -> dict:
        return {"count": len(self.earbuds), "late_ticks": self.late_ticks, "written_at": time.time(),
                "earbuds": [earbud.swarm_stats() for earbud in self.earbuds]}

    def write_stats(self) -> None:
        if self.options.stats is not None:
            write_json_atomic(self.options.stats, self.stats())
