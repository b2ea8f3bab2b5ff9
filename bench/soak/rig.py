"""The soak's system: a radio, N simulated earbuds and `earpiece run`, each its own process, restartable one by one.

The bridge's home (settings, registry, bonds, memory) lives on a small tmpfs when we are root, so the soak can fill
it; otherwise on the normal disk and the full-disk fault is skipped with the reason.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from pathlib import Path

from bench.soak.schedule import LEAD_IN_S, ROLES
from host.pipeline.audio import silence
from host.system.demo import write_wav
from host.system.harness import BridgeProcess, bridge_env, earpiece_home, pair
from host.system.simulator import start_earbud, start_radio

PASSKEY = 246813
TMPFS_SIZE = "48m"
CONFIG = '[privacy]\nstore_transcripts = true\n[assistant]\nengine = "off"\nfollow_up_s = 0\n'


def speak(text: str, folder: Path) -> bytes:
    """espeak-ng saying `text`, as 16 kHz PCM."""
    from host.pipeline.audio import read_wav

    path = folder / (str(abs(hash(text))) + ".espeak.wav")
    subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(path), text], check=True, capture_output=True)
    return read_wav(path)


class Rig:
    def __init__(self, workdir: Path, earbuds: int, models_root: Path, cut_every_s: float, seed: int) -> None:
        self.workdir = workdir
        self.home = workdir / "home"
        self.count = earbuds
        self.models_root = models_root
        self.cut_every_s = cut_every_s
        self.seed = seed
        self.tmpfs = False
        self.tmpfs_reason = ""
        self.radio = None
        self.port = 0
        self.lossy = False
        self.earbuds: list = []
        self.names = [f"Soak-{i}-{ROLES[i % len(ROLES)].name}" for i in range(earbuds)]
        self.mics: list[Path] = []
        self.loops: list[dict] = []  # per earbud: {"period_s", "phrases": [(offset_s, length_s, text)]}
        self.bridge: BridgeProcess | None = None
        self.bridge_logs: list[Path] = []
        self.env: dict[str, str] = {}

    # --- start -----------------------------------------------------------------------------------------------
    def start(self) -> None:
        self.home.mkdir(parents=True)
        self._mount_tmpfs()
        self._write_mics()
        self.start_radio()
        for index in range(self.count):
            self.earbuds.append(self._start_earbud(index))
        self.env = bridge_env(self.home, self.radio, EARPIECE_MODELS_DIR=str(self.models_root))
        (self.home / "config").mkdir(parents=True, exist_ok=True)
        (self.home / "config" / "config.toml").write_text(CONFIG)
        with earpiece_home(self.home):
            for earbud in self.earbuds:
                asyncio.run(pair(self.radio, earbud.address, PASSKEY))
        self.start_bridge()

    def _mount_tmpfs(self) -> None:
        if os.geteuid() != 0:
            self.tmpfs_reason = "not root: no tmpfs for the bridge's data, so the full-disk fault is skipped"
            return
        result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={TMPFS_SIZE},mode=0700", "tmpfs",
                                 str(self.home)], capture_output=True, text=True)
        self.tmpfs = result.returncode == 0
        self.tmpfs_reason = "" if self.tmpfs else f"mount tmpfs failed ({result.stderr.strip()}): full disk skipped"

    def _write_mics(self) -> None:
        for index in range(self.count):
            role = ROLES[index % len(ROLES)]
            pcm, phrases, offset = silence(LEAD_IN_S), [], LEAD_IN_S
            for text in role.phrases:
                wake, _, request = text.partition(", ")
                said = (speak(wake + ",", self.workdir) + silence(role.wake_pause_s) + speak(request, self.workdir)
                        if role.wake_pause_s > 0 and request else speak(text, self.workdir))
                phrases.append((offset, len(said) / 32000, text))
                pcm += said + silence(role.gap_s)
                offset += len(said) / 32000 + role.gap_s
            path = self.workdir / f"mic-{index}.wav"
            write_wav(path, pcm)
            self.mics.append(path)
            self.loops.append({"period_s": len(pcm) / 32000, "phrases": phrases, "role": role.name})

    def start_radio(self, lossy: bool = False) -> None:
        extra = ["--port", str(self.port)] if self.port else []
        if lossy:  # a crowded train: long interval, one packet in ten retransmitted
            extra += ["--interval-ms", "30", "--retransmit-prob", "0.1"]
        self.radio = start_radio(log_dir=self.workdir / f"radio-{time.time():.0f}", disconnect_every_s=self.cut_every_s,
                                 seed=self.seed, extra_args=extra)
        self.port = self.radio.port
        self.lossy = lossy

    def _start_earbud(self, index: int):
        return start_earbud(self.radio, self.names[index], state_dir=self.workdir / f"earbud-{index}",
                            mic=[self.mics[index]], passkey=PASSKEY)

    def start_bridge(self) -> BridgeProcess:
        log = self.workdir / f"bridge-{len(self.bridge_logs)}.log"
        self.bridge_logs.append(log)
        self.bridge = BridgeProcess(self.env, log, verbose=True)
        return self.bridge

    # --- restarts --------------------------------------------------------------------------------------------
    def reboot_earbud(self, index: int) -> None:
        self.earbuds[index].stop()
        self.earbuds[index] = self._start_earbud(index)

    def restart_radio(self, lossy: bool, kill: bool = True) -> None:
        """The radio dies (SIGKILL) or stops; the earbuds lose it and exit; all come back on the same port."""
        if kill:
            self.radio.proc.kill()
        self.radio.stop()
        for earbud in self.earbuds:
            earbud.stop(timeout=3)
        self.start_radio(lossy)
        self.earbuds = [self._start_earbud(index) for index in range(self.count)]

    def kill_bridge(self) -> None:
        if self.bridge is not None and self.bridge.proc.poll() is None:
            self.bridge.proc.kill()
            self.bridge.proc.wait(10)

    def cli(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        from host.system.harness import EARPIECE

        return subprocess.run([str(EARPIECE), *args], env=self.env, capture_output=True, text=True, timeout=timeout)

    def data_dir(self) -> Path:
        return self.home / "data"

    # --- stop ------------------------------------------------------------------------------------------------
    def stop(self) -> None:
        if self.bridge is not None:
            self.bridge.stop()
        for earbud in self.earbuds:
            earbud.stop()
        if self.radio is not None:
            self.radio.stop()
        if self.tmpfs:
            subprocess.run(["umount", "-l", str(self.home)], capture_output=True)
            self.tmpfs = False

    def logs(self) -> dict[str, str]:
        """Every log this soak's processes wrote: name -> text."""
        found = {log.name: log.read_text(errors="replace") for log in self.bridge_logs if log.exists()}
        for path in self.workdir.glob("**/*.log"):
            if path.name not in found:
                found[str(path.relative_to(self.workdir))] = path.read_text(errors="replace")
        return found
