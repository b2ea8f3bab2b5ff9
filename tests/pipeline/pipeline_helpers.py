"""Helpers for the pipeline tests (a module of its own: conftest.py files are not importable by name)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from host.pipeline.audio import silence

REPO = Path(__file__).resolve().parents[2]
SHARED_CACHE = REPO / ".cache"  # gitignored; survives between runs so the wheels are not fetched again


class FakeEarbudLink:
    """Stands in for the link: records what the session sends. (The real link is tested in tests/link.)"""

    def __init__(self, block_playback: bool = False):
        self.controls: list = []
        self.played: list[bytes] = []
        self.block_playback = block_playback
        self.playing = asyncio.Event()

    async def send_control(self, message) -> None:
        self.controls.append(message)

    async def play_audio(self, pcm: bytes) -> None:
        self.played.append(pcm)
        self.playing.set()
        if self.block_playback:
            await asyncio.Event().wait()  # like a link that returns only when the earbud has played it


async def feed(session, pcm: bytes, chunk: int = 640) -> None:
    """Feed PCM in 20 ms chunks, as the link would, but faster than real time."""
    for offset in range(0, len(pcm), chunk):
        await session.feed_audio(pcm[offset: offset + chunk])


__all__ = ["REPO", "SHARED_CACHE", "FakeEarbudLink", "feed", "silence"]
