"""Timers: set by voice, rung unprompted in the ear when they run out."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from host.assistant.skills.timer import ring_text


class Timers:
    def __init__(self, ring: Callable[[str], None], stats: dict):
        self._ring = ring  # speaks the text (the session's voice)
        self.stats = stats
        self._tasks: set[asyncio.Task] = set()

    def start(self, seconds: float, label: str) -> None:
        self.stats["timers_started"] += 1
        task = asyncio.get_running_loop().create_task(self._run(seconds, label))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, seconds: float, label: str) -> None:
        await asyncio.sleep(seconds)
        self.stats["timers_fired"] += 1
        self._ring(ring_text(label))

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
