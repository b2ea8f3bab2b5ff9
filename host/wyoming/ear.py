"""Home Assistant's audio in the ear: a reply's TTS or an announcement, `audio-start` .. `audio-stop`, played through
the earbud's own downlink (the same `DownlinkPacer` the companion's voice uses, so the session knows its own voice is
in the mic and does not wake on it) and answered with `played` once the earbud has played it out.

Home Assistant sends 22050 Hz (or whatever the TTS made) 16-bit mono or stereo; the earbud plays 16 kHz mono. The
conversion is soxr's streaming resampler, after the `wyoming` library's width/channel converter.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import numpy as np
import soxr
from wyoming.audio import AudioChunk, AudioChunkConverter, AudioStart

from host.bridge.speech_out import Playback

log = logging.getLogger(__name__)

EAR_RATE = 16000
MAX_SECONDS = 120.0  # one stream longer than this is cut (a peer streaming forever must not fill our memory)


class EarStream:
    """One stream of audio from Home Assistant into the ear."""

    def __init__(self, playback: Playback, start: AudioStart, name: str):
        self._playback = playback
        self._name = name
        self._rate = start.rate
        self._width_channels = AudioChunkConverter(width=2, channels=1)
        self._resampler = (soxr.ResampleStream(start.rate, EAR_RATE, 1, dtype="int16")
                           if start.rate != EAR_RATE else None)
        self.seconds = 0.0
        self.cut = False

    def chunk(self, chunk: AudioChunk) -> None:
        """Play one chunk (any rate/width/channels the peer announced per chunk)."""
        if self.cut:
            return
        if chunk.rate != self._rate:  # a peer that changes rate mid-stream: follow it
            self._rate = chunk.rate
            self._resampler = (soxr.ResampleStream(chunk.rate, EAR_RATE, 1, dtype="int16")
                               if chunk.rate != EAR_RATE else None)
        mono = self._width_channels.convert(chunk).audio
        samples = np.frombuffer(mono[: len(mono) - len(mono) % 2], dtype="<i2")
        self.seconds += len(samples) / max(1, chunk.rate)
        if self.seconds > MAX_SECONDS:
            log.warning("%s: Home Assistant's audio ran over %.0f s: the rest is not played", self._name, MAX_SECONDS)
            self.cut = True
            return
        if self._resampler is not None:
            samples = self._resampler.resample_chunk(samples)
        if len(samples):
            self._playback.play(samples.astype("<i2").tobytes())

    def end(self) -> None:
        if self._resampler is not None and not self.cut:
            tail = self._resampler.resample_chunk(np.zeros(0, dtype="<i2"), last=True)
            if len(tail):
                self._playback.play(tail.astype("<i2").tobytes())
        self._playback.end_reply()


async def wait_played_out(playback: Playback, poll_s: float = 0.05) -> None:
    """Until everything handed to the playback has played out on the earbud (by the playback's estimate)."""
    while playback.played_out_ago() < 0:
        await asyncio.sleep(poll_s)


def ear_played(playback: Playback, then: Callable[[], None]) -> asyncio.Task:
    """Call `then` once the earbud has played everything out (for `played`)."""
    async def wait() -> None:
        await wait_played_out(playback)
        then()

    return asyncio.get_running_loop().create_task(wait())
