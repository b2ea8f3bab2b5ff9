"""The simulated board under the earbud core: a mic fed from WAV files, a switch, a battery, a state file.

The mic models the world rather than a file player: once streaming starts on a connection, the playlist
(the WAV files in order, looped) runs in wall-clock time whether or not the mic listens, as sound around a
wearer would. `mic_read` hands out what a real I2S microphone would have captured since the last read.
With a live mic (the computer's microphone, device_sim/pyaudio_io.py) the world is the room instead.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Protocol

import device_sim.firmware  # noqa: F401  (makes `earbud` importable)
from device_sim.audio_files import SAMPLE_RATE
from earbud.hal import Hal

logger = logging.getLogger(__name__)

# A microphone DMA ring holds this much; a reader further behind loses the oldest audio (counted).
MIC_RING_SAMPLES = SAMPLE_RATE // 2
# Battery drain while running: an earbud streaming audio lasts ~5 h on a charge.
DRAIN_PERCENT_PER_S = 100 / (5 * 3600)


class LiveMicSource(Protocol):
    """A real microphone (pyaudio_io.LiveMic): captures only between start() and stop()."""

    def start(self) -> None: ...
    def stop(self) -> None: ...
    def read(self, n_samples: int) -> bytes | None: ...


class SimHal(Hal):
    def __init__(self, playlist: list[bytes], state_file: Path, clips: dict[str, bytes] | None = None,
                 board_file: Path | None = None, live_mic: LiveMicSource | None = None) -> None:
        self._world = b"".join(playlist)  # PCM16LE 16 kHz: the files in order, looped
        self._live_mic = live_mic  # when set, the mic hears the room instead of the playlist
        self._state_file = state_file
        self._board_file = board_file
        self._clips = clips or {}
        board = _read_json(board_file) if board_file else {}
        # A slide switch stays where it was left, and a battery keeps its charge, across a reboot.
        self.switch_quiet = board.get("switch_quiet") is True
        battery = board.get("battery", 100.0)
        self.battery = float(battery) if isinstance(battery, (int, float)) and 0 <= battery <= 100 else 100.0
        self.is_charging = False
        self.led_mode = "off"
        self.mic_on = False
        self.mic_overruns = 0
        self._world_start: float | None = None  # when the playlist began playing, None until streaming
        self.world_started_at: float | None = None  # the same moment in wall-clock time, for latency measurements
        self._cursor = 0  # samples of the world timeline read so far
        self._last_drain = time.monotonic()
        self.echo = None  # echo_path.EchoPath when the speaker leaks into the mic (--echo)

    # -- the world around the wearer --------------------------------------------------------------------

    def rewind(self) -> None:
        """A new connection: the playlist starts from its beginning when the mic next starts."""
        self._world_start = None

    def _world_position(self) -> int:
        assert self._world_start is not None
        return round((time.monotonic() - self._world_start) * SAMPLE_RATE)

    def _world_samples(self, start: int, n: int) -> bytes:
        if not self._world:
            return bytes(2 * n)
        total = len(self._world) // 2
        out = bytearray()
        position = start % total
        while len(out) < 2 * n:
            take = min(n - len(out) // 2, total - position)
            out += self._world[2 * position : 2 * (position + take)]
            position = 0
        return bytes(out)

    # -- Hal --------------------------------------------------------------------------------------------

    def mic_start(self) -> None:
        if self._world_start is None:
            self._world_start = time.monotonic()
            self.world_started_at = time.time()
        self._cursor = self._world_position()  # a mic just powered up has captured nothing yet
        if self._live_mic is not None:
            self._live_mic.start()
        self.mic_on = True

    def mic_stop(self) -> None:
        self.mic_on = False
        if self._live_mic is not None:
            self._live_mic.stop()

    def mic_read(self, n_samples: int) -> bytes | None:
        pcm = self._capture(n_samples)
        if pcm is None or self.echo is None:
            return pcm
        live = self._live_mic is not None  # the room's mic: captured just now; the world's: at its cursor
        return self.echo.mix(pcm, None if live else self._world_start + (self._cursor - n_samples) / SAMPLE_RATE)

    def _capture(self, n_samples: int) -> bytes | None:
        if self._live_mic is not None:
            return self._live_mic.read(n_samples) if self.mic_on else None
        if not self.mic_on or self._world_start is None:
            return None
        now = self._world_position()
        if now - self._cursor > MIC_RING_SAMPLES:
            self.mic_overruns += 1
            self._cursor = now - MIC_RING_SAMPLES
        if now - self._cursor < n_samples:
            return None
        pcm = self._world_samples(self._cursor, n_samples)
        self._cursor += n_samples
        return pcm

    def quiet_switch(self) -> bool:
        return self.switch_quiet

    def battery_percent(self) -> int:
        now = time.monotonic()
        if not self.is_charging:
            self.battery = max(0.0, self.battery - (now - self._last_drain) * DRAIN_PERCENT_PER_S)
        self._last_drain = now
        return int(round(self.battery))

    def charging(self) -> bool:
        return self.is_charging

    def led(self, mode: str) -> None:
        if mode != self.led_mode:
            logger.info("led: %s", mode)
        self.led_mode = mode

    def ticks_ms(self) -> int:
        return int(time.monotonic() * 1000)

    def load_state(self) -> dict:
        return _read_json(self._state_file)

    def save_state(self, d: dict) -> None:
        write_json_atomic(self._state_file, d)

    def save_board(self) -> None:
        """Persist the switch position and battery charge (the simulator's stand-in for physics)."""
        if self._board_file is not None:
            write_json_atomic(self._board_file, {"switch_quiet": self.switch_quiet, "battery": round(self.battery, 2)})

    def clip(self, name: str) -> bytes | None:
        return self._clips.get(name)


def _read_json(path: Path) -> dict:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def write_json_atomic(path: Path, data: dict) -> None:
    """Write data as JSON through a temporary file, so a reader (or a crash) never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)
