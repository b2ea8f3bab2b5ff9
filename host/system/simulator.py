"""Start `earpiece-sim radio` and `earpiece-sim earbud` as separate processes — for `earpiece demo`, the tests and
the benchmarks. (host/ never imports device_sim/: the simulator is a program we run, as a user would.)

    with start_radio(interval_ms=30) as radio:             # radio.port, radio.address, radio.transport_spec
        with start_earbud(radio, "Earpiece-Test", state_dir=tmp_path / "bud", mic=[wav]) as bud:
            bud.address                                   # "F1:..": its random static address
            passkey = bud.wait_for_passkey()              # the 6 digits it printed while pairing
            bud.send("quiet on")                          # a console command
            bud.wait_for_line(r"quiet switch on")
            bud.read_stats()                              # --stats JSON (the helper passes a file by default)
            bud.fresh_stats()                             # the same, after its next once-a-second rewrite
        cpu_seconds(radio.proc.pid)                       # CPU time a process has used so far (/proc)

Both stop (SIGTERM, then kill) when the `with` block ends; their stderr goes to a log file whose tail is put in
the error when a process fails to start.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

START_TIMEOUT_S = 30.0
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time process `pid` has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()  # the name in (..) may hold spaces
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime (fields 14, 15 of stat)


class SimProcess:
    """A running earpiece-sim process whose stdout lines are collected as they come."""

    def __init__(self, args: list[str], log_path: Path, env: dict[str, str] | None = None) -> None:
        self.args = args
        self.log_path = log_path
        self._log = open(log_path, "wb")
        self.lines: list[str] = []
        self._cond = threading.Condition()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "device_sim.cli", *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            env={**os.environ, **(env or {})},
            text=True,
            bufsize=1,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._cond:
                self.lines.append(line.rstrip("\n"))
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def wait_for_line(self, pattern: str, timeout: float = 10.0, start: int = 0) -> re.Match[str]:
        """The first stdout line (from index `start`) matching the regex; raises TimeoutError with the log tail."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for line in self.lines[start:]:
                    if match := regex.search(line):
                        return match
                remaining = deadline - time.monotonic()
                if remaining <= 0 or (self.proc.poll() is not None and not self._reader.is_alive()):
                    raise TimeoutError(f"no line matching {pattern!r} from earpiece-sim {self.args[0]}; "
                                       f"stdout={self.lines[-10:]!r}\nstderr tail:\n{self.log_tail()}")
                self._cond.wait(min(remaining, 0.2))

    def send(self, command: str) -> None:
        """Type one console line."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()

    def log_tail(self, n: int = 30) -> str:
        self._log.flush()
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def stop(self, timeout: float = 5.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout)
        if self.proc.stdin:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
        self._reader.join(2)
        self._log.close()
        return self.proc.returncode

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class RadioProcess(SimProcess):
    port: int

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def transport_spec(self) -> str:
        """What a Bumble host (a test central, the bridge's sim adapter) opens to attach."""
        return f"tcp-client:127.0.0.1:{self.port}"


class EarbudProcess(SimProcess):
    address: str
    name: str
    passkey: int | None  # the one it was told to show, if any
    stats_path: Path

    def wait_for_passkey(self, timeout: float = 10.0, start: int = 0) -> int:
        return int(self.wait_for_line(r"^passkey: (\d{6})$", timeout, start).group(1))

    def read_stats(self) -> dict:
        return json.loads(self.stats_path.read_text(encoding="utf-8"))

    def fresh_stats(self, timeout: float = 5.0) -> dict:
        """The counters as of now: the file is rewritten once a second, so wait for its next rewrite."""
        before = self._stats_mtime()
        deadline = time.monotonic() + timeout
        while self._stats_mtime() == before:  # a file's mtime has no event to wait on
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.stats_path} was not rewritten within {timeout} s\n{self.log_tail()}")
            time.sleep(0.05)
        return self.read_stats()

    def _stats_mtime(self) -> int | None:
        try:
            return self.stats_path.stat().st_mtime_ns
        except FileNotFoundError:
            return None


def _log_dir() -> Path:
    return Path(tempfile.mkdtemp(prefix="earpiece-sim-logs-"))


def start_radio(
    *,
    interval_ms: float | None = None,
    retransmit_prob: float | None = None,
    latency_ms: float | None = None,
    disconnect_every_s: float | None = None,
    seed: int | None = None,
    log_dir: Path | None = None,
    extra_args: list[str] | tuple[str, ...] = (),
) -> RadioProcess:
    """Start a radio on a free port and wait until it listens. `extra_args` go to `earpiece-sim radio` as they are."""
    args = ["radio", "--port", "0"]
    for flag, value in (("--interval-ms", interval_ms), ("--retransmit-prob", retransmit_prob),
                        ("--latency-ms", latency_ms), ("--disconnect-every-s", disconnect_every_s),
                        ("--seed", seed)):
        if value is not None:
            args += [flag, str(value)]
    args += extra_args
    log_dir = log_dir or _log_dir()
    log_dir.mkdir(parents=True, exist_ok=True)
    radio = RadioProcess(args, log_dir / "radio.log")
    try:
        match = radio.wait_for_line(r"^radio listening on 127\.0\.0\.1:(\d+)$", START_TIMEOUT_S)
    except TimeoutError:
        radio.stop()
        raise
    radio.port = int(match.group(1))
    return radio


def start_earbud(
    radio: RadioProcess | str,
    name: str,
    *,
    state_dir: Path,
    mic: list[Path] | tuple[Path, ...] = (),
    speaker: Path | None = None,
    passkey: int | None = None,
    stats: Path | None = None,
    address: str | None = None,
    env: dict[str, str] | None = None,
    extra_args: list[str] | tuple[str, ...] = (),
) -> EarbudProcess:
    """Start an earbud on `radio` (a RadioProcess or "HOST:PORT") and wait until it advertises.

    `extra_args` go to `earpiece-sim earbud` as they are (for hidden test switches such as --misbehave-audio-in-quiet).
    """
    radio_address = radio if isinstance(radio, str) else radio.address
    state_dir.mkdir(parents=True, exist_ok=True)
    stats = stats or state_dir / "stats.json"
    args = ["earbud", "--radio", radio_address, "--name", name, "--state-dir", str(state_dir), "--stats", str(stats)]
    if mic:
        args += ["--mic", *map(str, mic)]
    if speaker is not None:
        args += ["--speaker", str(speaker)]
    if passkey is not None:
        args += ["--passkey", str(passkey)]
    if address is not None:
        args += ["--address", address]
    args += extra_args
    earbud = EarbudProcess(args, state_dir / "earbud.log", env={"EARPIECE_HOME": str(state_dir / "home"), **(env or {})})
    try:
        match = earbud.wait_for_line(rf"^earbud {re.escape(name)} advertising as ([0-9A-F:]{{17}})$", START_TIMEOUT_S)
    except TimeoutError:
        earbud.stop()
        raise
    earbud.address = match.group(1)
    earbud.name = name
    earbud.passkey = passkey
    earbud.stats_path = stats
    return earbud
