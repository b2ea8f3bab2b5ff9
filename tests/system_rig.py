"""The radio, a simulated earbud and `earpiece run` as separate processes, as a user runs them (tests/e2e, tests/quiet):
a synchronous façade over host/system/harness.py's steps (start_radio, start_earbud, pair, BridgeProcess).

    system = System.start(tmp_path, models_root, mic_pcm, name="Earpiece-Test")  # paired, bridge running, connected
    system.wait_for_turn()                            # a line `turn (...)` in the bridge's log
    system.cli("quiet", "on", system.name, "--json")  # the real CLI, in its own process
    system.status()                                   # `earpiece status NAME --json`
    system.bridge_cpu_s()                             # CPU time of the bridge process (/proc)
    system.earbud.fresh_stats()                       # the earbud's counters after their next rewrite
    system.reboot_earbud()                            # same state directory: bonds, address, settings
    system.stop()                                     # bridge, earbud, radio; the speaker WAV is complete after this
    earpiece("run", env=env, check=False)             # one CLI command, no system needed
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from host.system.demo import write_wav
from host.system.harness import EARPIECE, BridgeProcess, bridge_env, earpiece_home, pair
from host.system.simulator import EarbudProcess, RadioProcess, cpu_seconds, start_earbud, start_radio

PASSKEY = 424242


def earpiece(*args: str, env: dict, timeout: float = 60, check: bool = True) -> subprocess.CompletedProcess:
    """Run one `earpiece` CLI command in its own process."""
    result = subprocess.run([str(EARPIECE), *args], env=env, capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"earpiece {' '.join(args)} failed ({result.returncode}): {result.stderr}")
    return result


# Systems whose tests are not about conversation leave the conversation model out: it costs seconds per bridge.
NO_CONVERSATION_MODEL = '[assistant]\nengine = "off"\n'


@dataclass
class System:
    tmp: Path
    radio: RadioProcess
    earbud: EarbudProcess
    env: dict
    mic: Path
    speaker: Path | None
    earbud_args: list[str]
    bridge: BridgeProcess | None = None
    bridge_logs: list[Path] = field(default_factory=list)

    @classmethod
    def start(cls, tmp: Path, models_root: Path, mic_pcm: bytes, *, name: str, speaker: Path | None = None,
              config_toml: str | None = None, radio_args: dict | None = None, earbud_args: list[str] = (),
              bridge: bool = True, wait_connected: bool = True) -> System:
        """Radio and earbud (its mic looping `mic_pcm`), paired (here, into tmp/home); then the bridge unless
        `bridge=False`."""
        mic = tmp / "mic.wav"
        write_wav(mic, mic_pcm)
        radio = start_radio(log_dir=tmp, **(radio_args or {}))
        try:
            earbud = start_earbud(radio, name, state_dir=tmp / "earbud", mic=[mic], speaker=speaker, passkey=PASSKEY,
                                  extra_args=earbud_args)
        except BaseException:
            radio.stop()
            raise
        env = bridge_env(tmp / "home", radio, EARPIECE_MODELS_DIR=str(models_root))
        system = cls(tmp, radio, earbud, env, mic, speaker, list(earbud_args))
        try:
            (tmp / "home" / "config").mkdir(parents=True)
            (tmp / "home" / "config" / "config.toml").write_text(NO_CONVERSATION_MODEL if config_toml is None
                                                                 else config_toml)
            with earpiece_home(tmp / "home"):
                asyncio.run(pair(radio, earbud.address, PASSKEY))
            if bridge:
                system.start_bridge(wait_connected)
        except BaseException:
            system.stop()
            raise
        return system

    @property
    def name(self) -> str:
        return self.earbud.name

    # --- processes ---------------------------------------------------------------------------------------------
    def start_bridge(self, wait_connected: bool = True) -> None:
        log = self.tmp / f"bridge-{len(self.bridge_logs)}.log"
        self.bridge_logs.append(log)
        self.bridge = BridgeProcess(self.env, log, verbose=True)  # -v: its log shows each turn
        if wait_connected:
            self.bridge.wait_connected()

    def stop_bridge(self) -> None:
        if self.bridge is not None:
            self.bridge.stop()
        self.bridge = None

    def reboot_earbud(self, before_start=None) -> None:
        """Power the earbud off and on again (same state directory: bonds, address, settings)."""
        self.earbud.stop()
        if before_start is not None:
            before_start()
        self.earbud = start_earbud(self.radio, self.name, state_dir=self.tmp / "earbud", mic=[self.mic],
                                   speaker=self.speaker, passkey=PASSKEY, extra_args=self.earbud_args)

    def stop(self) -> None:
        try:
            self.stop_bridge()
        finally:
            try:
                self.earbud.stop()
            finally:
                self.radio.stop()

    # --- observing -----------------------------------------------------------------------------------------------
    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        result = earpiece(*args, env=self.env, check=False)
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

    def bridge_cpu_s(self) -> float:
        """User + system CPU time of the `earpiece run` process so far."""
        return cpu_seconds(self.bridge.pid)

    def bridge_text(self) -> str:
        """Everything every bridge started so far wrote to its log."""
        return "".join(log.read_text(errors="replace") for log in self.bridge_logs if log.exists())

    def turns(self) -> list[str]:
        return re.findall(r": turn \(.*", self.bridge_text())

    def wait_for(self, predicate, timeout: float, what: str):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            if self.bridge is not None and self.bridge.proc.poll() is not None:
                raise AssertionError(f"the bridge exited ({self.bridge.proc.returncode}):\n{self.bridge_text()[-3000:]}")
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for {what}; bridge log tail:\n{self.bridge_text()[-3000:]}")

    def wait_for_turn(self, count: int = 1, timeout: float = 40) -> list[str]:
        return self.wait_for(lambda: len(self.turns()) >= count and self.turns(), timeout, f"{count} turn(s)")
