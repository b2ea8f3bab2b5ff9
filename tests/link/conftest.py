"""Radio, earbud and host CLI as separate processes, as a user runs them. EARPIECE_HOME is a tmp dir."""

from __future__ import annotations

import json
import os
import queue
import re
import subprocess
import sys
import threading
import time
import wave
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
START_TIMEOUT_S = 20.0


class Process:
    """A child process whose stdout lines are collected in the background (so tests can wait for a line)."""

    def __init__(self, args: list[str], env: dict[str, str], name: str) -> None:
        self.name = name
        self.popen = subprocess.Popen(
            args, cwd=REPO, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, bufsize=1,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        self.stderr: list[str] = []
        threading.Thread(target=self._pump, args=(self.popen.stdout, self.lines), daemon=True).start()
        threading.Thread(target=self._pump_err, daemon=True).start()

    @staticmethod
    def _pump(stream, lines) -> None:
        for line in stream:
            lines.put(line.rstrip("\n"))

    def _pump_err(self) -> None:
        for line in self.popen.stderr:
            self.stderr.append(line.rstrip("\n"))

    def wait_for(self, pattern: str, timeout: float = START_TIMEOUT_S) -> re.Match:
        deadline = time.monotonic() + timeout
        regex = re.compile(pattern)
        for line in self.seen:
            if m := regex.search(line):
                return m
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                break
            self.seen.append(line)
            if m := regex.search(line):
                return m
        raise AssertionError(
            f"{self.name}: no line matching {pattern!r} within {timeout} s; stdout={self.seen[-10:]} "
            f"stderr={self.stderr[-10:]} rc={self.popen.poll()}"
        )

    def drain(self) -> list[str]:
        while True:
            try:
                self.seen.append(self.lines.get_nowait())
            except queue.Empty:
                return self.seen

    def send(self, line: str) -> None:
        self.popen.stdin.write(line + "\n")
        self.popen.stdin.flush()

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(5)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)


class Sim:
    """Starts radios and earbuds for one test and stops them all afterwards."""

    def __init__(self, home: Path, env: dict[str, str]) -> None:
        self.home = home
        self.env = env
        self.processes: list[Process] = []

    def radio(self, *options: str) -> str:
        proc = Process([PYTHON, "-m", "device_sim.cli", "radio", "--port", "0", *options], self.env, "radio")
        self.processes.append(proc)
        port = proc.wait_for(r"radio listening on 127\.0\.0\.1:(\d+)").group(1)
        return f"127.0.0.1:{port}"

    def earbud(self, radio: str, name: str = "EP-Test", passkey: int = 246810, mic: Path | None = None,
               state_dir: Path | None = None, stats: Path | None = None,
               speaker: Path | None = None) -> tuple[Process, str]:
        args = [PYTHON, "-m", "device_sim.cli", "earbud", "--radio", radio, "--name", name, "--passkey", str(passkey),
                "--state-dir", str(state_dir or self.home / "earbuds" / f"{name}-{len(self.processes)}")]
        if mic is not None:
            args += ["--mic", str(mic)]
        if stats is not None:
            args += ["--stats", str(stats)]
        if speaker is not None:
            args += ["--speaker", str(speaker)]
        proc = Process(args, self.env, f"earbud {name}")
        self.processes.append(proc)
        address = proc.wait_for(r"advertising as ([0-9A-F:]{17})").group(1)
        return proc, address

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
def sim(home: Path, env: dict[str, str]):
    s = Sim(home, env)
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
