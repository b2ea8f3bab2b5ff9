"""Radio, earbud and host CLI as separate processes, as a user runs them. EARPIECE_HOME is a tmp dir."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest

from host.system.simulator import SimProcess, start_earbud, start_radio

REPO = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
START_TIMEOUT_S = 20.0


class Process:
    """An earpiece-sim process of the test's (host/system/simulator.py starts it), by the names the tests use."""

    def __init__(self, process: SimProcess) -> None:
        self.process = process

    def wait_for(self, pattern: str, timeout: float = START_TIMEOUT_S) -> re.Match:
        """The first stdout line so far or to come matching `pattern`."""
        return self.process.wait_for_line(pattern, timeout)

    def drain(self) -> list[str]:
        """Every stdout line so far."""
        return list(self.process.lines)

    def send(self, line: str) -> None:
        self.process.send(line)

    def stop(self) -> None:
        self.process.stop()


class Sim:
    """Starts radios and earbuds for one test (their logs beside `home`) and stops them all afterwards."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.processes: list[Process] = []

    def radio(self, *options: str) -> str:
        """A radio (`options` as for `earpiece-sim radio`): its "HOST:PORT"."""
        radio = start_radio(log_dir=self.home.parent / f"radio-{len(self.processes)}", extra_args=options)
        self.processes.append(Process(radio))
        return radio.address

    def earbud(self, radio: str, name: str = "EP-Test", passkey: int = 246810, mic: Path | None = None,
               state_dir: Path | None = None, stats: Path | None = None,
               speaker: Path | None = None) -> tuple[Process, str]:
        state_dir = state_dir or self.home / "earbuds" / f"{name}-{len(self.processes)}"
        earbud = start_earbud(radio, name, state_dir=state_dir, mic=[mic] if mic is not None else [],
                              speaker=speaker, passkey=passkey, stats=stats)
        self.processes.append(Process(earbud))
        return self.processes[-1], earbud.address

    def stop_all(self) -> None:
        for proc in reversed(self.processes):
            proc.stop()


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.fixture
def env(home: Path) -> dict[str, str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("EARPIECE_")}
    environment["EARPIECE_HOME"] = str(home)
    environment["PYTHONPATH"] = str(REPO)
    environment["PYTHONUNBUFFERED"] = "1"
    return environment


@pytest.fixture
def sim(home: Path):
    s = Sim(home)
    yield s
    s.stop_all()


def earpiece(env: dict[str, str], *args: str, stdin: str | None = None, timeout: float = 60.0) -> subprocess.CompletedProcess:
    """Run the `earpiece` CLI as its own process."""
    return subprocess.run(
        [PYTHON, "-c", "import sys; from host.cli import main; sys.exit(main())", *args],
        cwd=REPO, env=env, input=stdin, capture_output=True, text=True, timeout=timeout,
    )


def json_out(result: subprocess.CompletedProcess) -> dict:
    assert result.returncode == 0, f"rc={result.returncode} stderr={result.stderr}"
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1, f"--json must print one line, got {result.stdout!r}"
    return json.loads(lines[0])


def host_probe(env: dict[str, str], *args: str, timeout: float = 90.0) -> dict:
    """Run tests/link/host_probe.py (a bleak/EarbudLink host) as its own process; return its JSON result."""
    result = subprocess.run(
        [PYTHON, str(Path(__file__).with_name("host_probe.py")), *args],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout,
    )
    assert result.returncode == 0, f"host_probe {args} rc={result.returncode} stderr={result.stderr[-3000:]}"
    return json.loads(result.stdout.strip().splitlines()[-1])


def bonds(home: Path) -> dict:
    """The host's Bumble bond store: {peer address: keys} for our identity."""
    path = home / "data" / "bonds.json"
    if not path.exists():
        return {}
    db = json.loads(path.read_text())
    merged: dict = {}
    for namespace in db.values():
        merged.update(namespace)
    return merged


def write_test_wav(path: Path, seconds: float = 4.0, seed: int = 7) -> np.ndarray:
    """A mic signal with no repeats inside the loop (noise-shaped tones), so any received stretch aligns uniquely."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(16000 * seconds)) / 16000
    tones = 0.25 * np.sin(2 * np.pi * 440 * t) + 0.15 * np.sin(2 * np.pi * 1250 * t + 1.0)
    envelope = 0.6 + 0.4 * np.sin(2 * np.pi * 0.7 * t)
    noise = rng.normal(0, 0.05, t.size)
    pcm = np.clip((tones * envelope + noise) * 32767, -32768, 32767).astype("<i2")
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(16000)
        wav.writeframes(pcm.tobytes())
    return pcm
