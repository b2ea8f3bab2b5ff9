"""The audio clock: how much microphone audio one session has fed its stages.

One session, one clock. The session advances it by each chunk before its stages (wake word, endpointer) process
that chunk; a stage that holds back the end of a chunk (an incomplete frame or block) asks `time_at(held_bytes)`
where it stands. So every time in a turn — a wake detection, speech starting, the end of speech — is on one
timeline, also across fresh stages made after quiet mode, and the same whether audio arrives in real time or faster.
"""

from __future__ import annotations

from host.pipeline.messages import SAMPLE_RATE


class AudioClock:
    def __init__(self) -> None:
        self.samples = 0
        """16 kHz samples fed so far."""

    def advance(self, n_bytes: int) -> None:
        """Count a chunk of 16-bit PCM, before the stages process it."""
        self.samples += n_bytes // 2

    @property
    def time_s(self) -> float:
        return self.samples / SAMPLE_RATE

    def time_at(self, held_bytes: int) -> float:
        """Audio time of the sample just before the last `held_bytes` of what was fed."""
        return (self.samples - held_bytes // 2) / SAMPLE_RATE
