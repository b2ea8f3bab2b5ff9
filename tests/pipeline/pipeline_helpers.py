"""Helpers for the pipeline tests (a module of its own: conftest.py files are not importable by name)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from host.pipeline.audio import silence

REPO = Path(__file__).resolve().parents[2]
SHARED_CACHE = REPO / ".cache"  # gitignored; survives between runs so the wheels are not fetched again


class FakeEarbudLink:
    """Stands in for the link and the earbud's playback: records what the session sends and plays. (The real link
    and the real pacer are tested in tests/link and tests/host.)

    Its playback estimate runs on the session's audio clock (`attach`): the tests feed audio faster than real time,
    and a reply "plays" for as much mic audio as it lasts. With `block_playback` a reply plays until stopped."""

    def __init__(self, block_playback: bool = False):
        self.controls: list = []
        self.played: list[bytes] = []
        self.block_playback = block_playback
        self.playing = asyncio.Event()
        self._audio_time = lambda: 0.0
        self._ends_at = float("-inf")

    def attach(self, session) -> None:
        self._audio_time = lambda: session.audio_time

    async def send_control(self, message) -> None:
        self.controls.append(message)

    def play(self, pcm: bytes) -> None:
        self.played.append(pcm)
        self.playing.set()
        now = self._audio_time()
        self._ends_at = max(self._ends_at, now) + len(pcm) / 32000
        if self.block_playback:
            self._ends_at = float("inf")

    def end_reply(self) -> None:
        pass

    def stop(self) -> None:
        self._ends_at = min(self._ends_at, self._audio_time())

    def played_out_ago(self) -> float:
        return self._audio_time() - self._ends_at


async def feed(session, pcm: bytes, chunk: int = 640) -> None:
    """Feed PCM in 20 ms chunks, as the link would, but faster than real time."""
    for offset in range(0, len(pcm), chunk):
        await session.feed_audio(pcm[offset: offset + chunk])


__all__ = ["REPO", "SHARED_CACHE", "FakeEarbudLink", "feed", "silence"]
