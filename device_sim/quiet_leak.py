"""A test aid, never for real use (hidden flag --misbehave-audio-in-quiet): a broken firmware that keeps streaming
its mic while it reports quiet, so tests can prove the host drops such audio unprocessed."""

from __future__ import annotations

import collections

from device_sim.sim_hal import SimHal
from earbud.audio_path import MIC_BLOCK_SAMPLES, MIC_MAX_BLOCKS_PER_TICK
from earbud.core import EarbudCore
from protocol.audio import FrameEncoder


class QuietLeak:
    """Reads the mic behind the core's back and encodes it, as the core would if quiet did not stop it."""

    def __init__(self, hal: SimHal, core: EarbudCore, counters: collections.Counter[str]) -> None:
        self.hal, self.core, self.counters = hal, core, counters
        self._encoder = FrameEncoder()

    def frames(self) -> list[bytes]:
        if not (self.core.connected_now and self.core.streaming):
            return []
        if not self.hal.mic_on:
            self.hal.mic_start()
        frames: list[bytes] = []
        for _ in range(MIC_MAX_BLOCKS_PER_TICK):  # read as the core does
            block = self.hal.mic_read(MIC_BLOCK_SAMPLES)
            if block is None:
                break
            frames.extend(self._encoder.encode(block))
        self.counters["audio_frames_misbehaved_in_quiet"] += len(frames)
        return frames
