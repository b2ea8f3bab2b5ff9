"""Radio, simulated earbud and `earpiece run` as separate processes, for the quiet end-to-end tests.

    system = QuietSystem.start(tmp_path, models_root, mic_pcm)       # paired, bridge running and connected
    system.cli("quiet", "on", system.name, "--json")                  # the real CLI, in its own process
    system.status()                                                   # `earpiece status NAME --json`
    system.bridge_cpu_s()                                             # CPU time of the bridge process (/proc)
    system.stop()
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import wave
from dataclasses import dataclass, field
from pathlib import Path

from host import control_socket
from host.simulator import START_TIMEOUT_S, EarbudProcess, RadioProcess, start_radio

PASSKEY = 424242
NAME = "Earpiece-Quiet"
EARPIECE = Path(sys.executable).parent / "earpiece"  # the installed console script, as a user runs it
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def write_wav(path: Path, pcm: bytes) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes(pcm)
    return path


def start_earbud(radio: RadioProcess, state_dir: Path, mic: Path, extra: list[str]) -> EarbudProcess:
    """host.simulator.start_earbud, plus extra arguments (the hidden --misbehave-audio-in-quiet)."""
    state_dir.mkdir(parents=True, exist_ok=True)
    stats = state_dir / "stats.json"
    args = ["earbud", "--radio", radio.address, "--name", NAME, "--state-dir", str(state_dir), "--stats", str(stats),
            "--mic", str(mic), "--passkey", str(PASSKEY), *extra]
    earbud = EarbudProcess(args, state_dir / f"earbud-{time.monotonic_ns()}.log",
                           env={"EARPIECE_HOME": str(state_dir / "home")})
    try:
        match = earbud.wait_for_line(rf"^earbud {re.escape(NAME)} advertising as ([0-9A-F:]{{17}})$", START_TIMEOUT_S)
    except TimeoutError:
        earbud.stop()
        raise
    earbud.address, earbud.name, earbud.stats_path = match.group(1), NAME, stats
    return earbud


@dataclass
class QuietSystem:
    tmp: Path
    radio: RadioProcess
    earbud: EarbudProcess
    env: dict
    mic: Path
    earbud_args: list[str]
    bridge: subprocess.Popen | None = None
    bridge_logs: list[Path] = field(default_factory=list)
    name: str = NAME

    @classmethod
    def start(cls, tmp: Path, models_root: Path, mic_pcm: bytes, *, earbud_args: list[str] = (),
              radio_args: dict | None = None, bridge: bool = True) -> QuietSystem:
        mic = write_wav(tmp / "mic.wav", mic_pcm)
        radio = start_radio(log_dir=tmp, **(radio_args or {}))
        try:
            earbud = start_earbud(radio, tmp / "earbud", mic, list(earbud_args))
        except BaseException:
            radio.stop()
            raise
        env = {**os.environ, "EARPIECE_HOME": str(tmp / "home"), "EARPIECE_ADAPTER": f"sim:{radio.address}",
               "EARPIECE_MODELS_DIR": str(models_root)}
        system = cls(tmp, radio, earbud, env, mic, list(earbud_args))
        try:
            system.cli("pair", earbud.address, "--passkey", str(PASSKEY))
            if bridge:
                system.start_bridge()
        except BaseException:
            system.stop()
            raise
        return system

    @property
    def socket(self) -> Path:
        return self.tmp / "home" / "run" / "bridge.sock"

    # --- processes ---------------------------------------------------------------------------------------------
    def start_bridge(self) -> None:
        log = self.tmp / f"bridge-{len(self.bridge_logs)}.log"
        self.bridge_logs.append(log)
        with open(log, "w") as stderr:  # the child keeps its own copy of the descriptor
            self.bridge = subprocess.Popen([str(EARPIECE), "-v", "run"], env=self.env, stdout=subprocess.DEVNULL,
                                           stderr=stderr)
        # Only once its control socket answers does `earpiece status` go through the bridge (not to the earbud).
        self.wait_for(lambda: control_socket.bridge_running(self.socket), 60, "the bridge's control socket")
        self.wait_for(lambda: self.status(check=False).get("connected"), 30, "the bridge to connect")

    def stop_bridge(self) -> None:
        if self.bridge is not None and self.bridge.poll() is None:
            self.bridge.send_signal(signal.SIGINT)
            try:
                self.bridge.wait(15)
            except subprocess.TimeoutExpired:
                self.bridge.kill()
                self.bridge.wait(5)
        self.bridge = None

    def reboot_earbud(self, before_start=None) -> None:
        """Power the earbud off and on again (same state directory: bonds, address, settings)."""
        self.earbud.stop()
        if before_start is not None:
            before_start()
        self.earbud = start_earbud(self.radio, self.tmp / "earbud", self.mic, self.earbud_args)

    def stop(self) -> None:
        self.stop_bridge()
        self.earbud.stop()
        self.radio.stop()

    # --- observing -----------------------------------------------------------------------------------------------
    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run([str(EARPIECE), *args], env=self.env, capture_output=True, text=True, timeout=60)
        if check and result.returncode != 0:
            raise AssertionError(f"earpiece {' '.join(args)} failed ({result.returncode}): {result.stderr}"
                                 f"\nbridge log tail:\n{self.bridge_text()[-2000:]}")
        return result

    def status(self, check: bool = True) -> dict:
        result = self.cli("status", self.name, "--json", check=check)
        if result.returncode != 0:
            return {}
        lines = result.stdout.splitlines()
        assert len(lines) == 1, result.stdout
        return json.loads(lines[0])

    def quiet(self, state: str) -> dict:
        return json.loads(self.cli("quiet", state, self.name, "--json").stdout)

    def earbud_stats(self) -> dict:
        return self.earbud.read_stats()

    def fresh_earbud_stats(self) -> dict:
        """The earbud's counters as of now (the file is rewritten every second: wait for the next rewrite)."""
        before = self.earbud.stats_path.stat().st_mtime_ns
        self.wait_for(lambda: self.earbud.stats_path.stat().st_mtime_ns != before, 5, "the earbud's stats file")
        return self.earbud_stats()

    def bridge_cpu_s(self) -> float:
        """User + system CPU time of the `earpiece run` process so far."""
        fields = Path(f"/proc/{self.bridge.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime (fields 14, 15 of stat)

    def bridge_text(self) -> str:
        return "".join(log.read_text(errors="replace") for log in self.bridge_logs if log.exists())

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
