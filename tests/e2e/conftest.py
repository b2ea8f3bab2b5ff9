"""End-to-end fixtures: the radio, a simulated earbud and `earpiece run` as separate processes, as a user runs them.

    system = start_system(tmp_path, mic_text="Hey Jarvis, what time is it?")
    system.wait_for_turn()             # a line `turn (...)` in the bridge's log
    system.stop()                      # bridge, earbud, radio; the speaker WAV is complete after this
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import wave
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from host.pipeline.audio import read_wav, silence
from host.simulator import EarbudProcess, RadioProcess, start_earbud, start_radio

PASSKEY = 424242
LEAD_IN_S = 2.0  # the wake word model ignores the first ~1.6 s of a stream


def speak(text: str, path: Path) -> bytes:
    """16 kHz PCM of espeak-ng saying `text` (espeak writes 22050 Hz: the resampling is exercised too)."""
    subprocess.run(["espeak-ng", "-w", str(path), text], check=True, capture_output=True)
    return read_wav(path)


def write_wav(path: Path, pcm: bytes, rate: int = 16000) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm)
    return path


EARPIECE = Path(sys.executable).parent / "earpiece"  # the installed console script, as a user runs it


def earpiece(*args: str, env: dict, timeout: float = 60, check: bool = True) -> subprocess.CompletedProcess:
    """Run one `earpiece` CLI command in its own process."""
    result = subprocess.run([str(EARPIECE), *args], env=env, capture_output=True, text=True,
                            timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"earpiece {' '.join(args)} failed ({result.returncode}): {result.stderr}")
    return result


@dataclass
class System:
    tmp: Path
    radio: RadioProcess
    earbud: EarbudProcess
    env: dict
    speaker: Path
    bridge: subprocess.Popen | None = None
    bridge_log: Path | None = None
    stopped: list = field(default_factory=list)

    def start_bridge(self) -> None:
        self.bridge_log = self.tmp / f"bridge-{len(self.stopped)}.log"
        self.bridge = subprocess.Popen([str(EARPIECE), "-v", "run"], env=self.env,
                                       stdout=subprocess.DEVNULL, stderr=open(self.bridge_log, "w"))

    def bridge_text(self) -> str:
        return self.bridge_log.read_text(errors="replace") if self.bridge_log else ""

    def turns(self) -> list[str]:
        return re.findall(r": turn \(.*", self.bridge_text())

    def wait_for(self, predicate, timeout: float, what: str):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            if self.bridge is not None and self.bridge.poll() is not None:
                raise AssertionError(f"the bridge exited ({self.bridge.returncode}):\n{self.bridge_text()[-3000:]}")
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for {what}; bridge log tail:\n{self.bridge_text()[-3000:]}")

    def wait_for_turn(self, count: int = 1, timeout: float = 40) -> list[str]:
        return self.wait_for(lambda: len(self.turns()) >= count and self.turns(), timeout, f"{count} turn(s)")

    def stop_bridge(self) -> None:
        if self.bridge is not None and self.bridge.poll() is None:
            self.bridge.send_signal(signal.SIGINT)
            try:
                self.bridge.wait(15)
            except subprocess.TimeoutExpired:
                self.bridge.kill()
                self.bridge.wait(5)
        if self.bridge is not None:
            self.stopped.append(self.bridge.returncode)
        self.bridge = None

    def stop(self) -> None:
        self.stop_bridge()
        self.earbud.stop()
        self.radio.stop()


@pytest.fixture
def start_system(tmp_path, use_models):
    systems: list[System] = []

    def start(mic_pcm: bytes, store_transcripts: bool = True) -> System:
        mic = write_wav(tmp_path / "mic.wav", mic_pcm)
        speaker = tmp_path / "speaker.wav"
        radio = start_radio(log_dir=tmp_path)
        earbud = start_earbud(radio, "Earpiece-E2E", state_dir=tmp_path / "earbud", mic=[mic], speaker=speaker,
                              passkey=PASSKEY)
        home = tmp_path / "home"
        env = {**os.environ, "EARPIECE_HOME": str(home), "EARPIECE_ADAPTER": f"sim:{radio.address}",
               "EARPIECE_MODELS_DIR": str(use_models)}
        if store_transcripts:
            (home / "config").mkdir(parents=True)
            (home / "config" / "config.toml").write_text("[privacy]\nstore_transcripts = true\n")
        system = System(tmp_path, radio, earbud, env, speaker)
        systems.append(system)
        earpiece("pair", earbud.address, "--passkey", str(PASSKEY), env=env)
        system.start_bridge()
        return system

    yield start
    for system in systems:
        system.stop()


def voiced_segments(pcm: bytes, rate: int = 16000, threshold: int = 300, gap_s: float = 0.4) -> list[tuple[float, float]]:
    """(start_s, end_s) of the stretches of sound in `pcm`, joining gaps shorter than `gap_s`."""
    samples = np.abs(np.frombuffer(pcm, dtype="<i2").astype(np.int32))
    window = rate // 50
    loud = [samples[i:i + window].mean() > threshold for i in range(0, len(samples) - window, window)]
    segments: list[list[float]] = []
    for index, is_loud in enumerate(loud):
        t = index * window / rate
        if not is_loud:
            continue
        if segments and t - segments[-1][1] <= gap_s:
            segments[-1][1] = t + window / rate
        else:
            segments.append([t, t + window / rate])
    return [(a, b) for a, b in segments]


__all__ = ["LEAD_IN_S", "PASSKEY", "System", "earpiece", "silence", "speak", "voiced_segments", "write_wav"]
