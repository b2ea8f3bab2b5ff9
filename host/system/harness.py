"""The whole system on this computer, started and stopped as one: a virtual radio, simulated earbuds, pairing, and
the bridge — for `earpiece demo`, the benchmarks and the end-to-end tests.

    async with SystemHarness([EarbudSpec("Earpiece-Demo", mic=[wav], speaker=out)], engines=engines,
                             on_turn=on_turn) as system:
        system.radio, system.earbuds[0], system.devices[0]    # RadioProcess, EarbudProcess, PairedDevice
        system.runner(0).pacer.wait_played()                  # bridge="in-process": the Bridge's EarbudRunner
    # everything stopped here, also on failure or cancellation

`bridge="in-process"` runs `host.bridge.bridge.Bridge` in this event loop (the demo, the benchmarks);
`bridge="process"` runs `earpiece run` as its own process (`system.bridge_process`), as a user would;
`bridge=None` starts none (add runners, or a BridgeProcess, yourself). Pairing happens here, with
`pair_earbud` and the earbud's passkey, into a throwaway EARPIECE_HOME (this process's points there while the
harness runs) unless `home` is given.

The steps are also usable one by one, synchronously where they block (tests/system_rig.py builds on them):
`simulator.start_radio` / `start_earbud`, `earpiece_home`, `pair`, `BridgeProcess`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from host.errors import EarpieceError
from host.system.simulator import EarbudProcess, RadioProcess, SimProcess, start_earbud, start_radio

log = logging.getLogger(__name__)

EARPIECE = Path(sys.executable).parent / "earpiece"  # the installed console script, as a user runs it
CONNECT_TIMEOUT_S = 20.0
BRIDGE_CLOSE_TIMEOUT_S = 15.0  # an overloaded bridge can take long to say goodbye to every link

P = TypeVar("P", bound=SimProcess)


@dataclass
class EarbudSpec:
    """One simulated earbud to start: its mic (WAVs, or "pyaudio[:DEVICE]"), its speaker, its passkey."""

    name: str
    mic: Sequence[Path] = ()
    speaker: Path | None = None
    passkey: int | None = None  # None: a random one
    extra_args: Sequence[str] = ()  # as they are, to `earpiece-sim earbud` (hidden test switches)


class EarbudStartError(EarpieceError, TimeoutError):
    """A simulated earbud did not come up; `reason` is its own one-line complaint (e.g. a missing sound device)."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"the simulated earbud {name} did not start: {reason}")
        self.reason = reason


# --- the steps -------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def earpiece_home(path: Path) -> Iterator[Path]:
    """Point this process's EARPIECE_HOME (registry, bonds, Bluetooth identity) at `path` inside the block."""
    saved = os.environ.get("EARPIECE_HOME")
    os.environ["EARPIECE_HOME"] = str(path)
    try:
        yield path
    finally:
        if saved is None:
            os.environ.pop("EARPIECE_HOME", None)
        else:
            os.environ["EARPIECE_HOME"] = saved


async def pair(radio: RadioProcess | str, address: str, passkey: int, registry=None):
    """Pair this process's host identity (EARPIECE_HOME) with the earbud at `address`: its PairedDevice."""
    from host.link.adapter import resolve_adapter
    from host.link.earbuds import pair_earbud

    async def passkey_provider() -> int:
        return passkey

    radio_address = radio if isinstance(radio, str) else radio.address
    return await pair_earbud(resolve_adapter(f"sim:{radio_address}"), address, passkey_provider, registry=registry)


def bridge_env(home: Path, radio: RadioProcess | str, **extra: str) -> dict[str, str]:
    """The environment for `earpiece` commands run against this system (its home, the radio as adapter)."""
    radio_address = radio if isinstance(radio, str) else radio.address
    return {**os.environ, "EARPIECE_HOME": str(home), "EARPIECE_ADAPTER": f"sim:{radio_address}", **extra}


class BridgeProcess:
    """`earpiece run` as its own process; its stderr goes to `log_path`."""

    def __init__(self, env: dict[str, str], log_path: Path, verbose: bool = False, args: Sequence[str] = ()) -> None:
        """`args` go to `earpiece run` as they are (e.g. --wyoming PORT)."""
        self.log_path = log_path
        self.socket = Path(env["EARPIECE_HOME"]) / "run" / "bridge.sock"
        with open(log_path, "w") as stderr:  # the child keeps its own copy of the descriptor
            self.proc = subprocess.Popen([str(EARPIECE), *(["-v"] if verbose else []), "run", *args], env=env,
                                         stdout=subprocess.DEVNULL, stderr=stderr)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def devices(self) -> list[dict]:
        """Every earbud's status, from the bridge's control socket."""
        from host.bridge import control_socket

        return control_socket.request({"cmd": "status", "device": None}, self.socket)["devices"]

    def wait_connected(self, timeout: float = 60.0) -> None:
        """Until the control socket answers and every earbud is connected (TimeoutError, or RuntimeError if the
        bridge exits)."""
        from host.bridge import control_socket

        deadline = time.monotonic() + timeout
        while not (control_socket.bridge_running(self.socket) and all(d["connected"] for d in self.devices())):
            if self.proc.poll() is not None:
                raise RuntimeError(f"the bridge exited ({self.proc.returncode}):\n{self.text()[-3000:]}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"the bridge did not connect within {timeout:.0f} s:\n{self.text()[-3000:]}")
            time.sleep(0.2)

    def stop(self, timeout: float = 15.0) -> None:
        """Ctrl-C, as a user stops it; killed if it does not finish within `timeout`."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


async def _in_thread(start: Callable[[], P]) -> P:
    """Run a blocking start in a thread. Cancelled meanwhile: wait for it all the same, and stop what it started
    (a thread cannot be abandoned: what it starts must be known to be stopped)."""
    future = asyncio.ensure_future(asyncio.to_thread(start))
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):
            (await future).stop()
        raise


# --- all of it ---------------------------------------------------------------------------------------------------


class SystemHarness:
    """Radio, earbuds, pairing and a bridge: started on `async with`, all stopped when it ends."""

    def __init__(
        self,
        earbuds: Sequence[EarbudSpec] = (),
        *,
        engines=None,
        bridge: str | None = "in-process",
        on_turn: Callable | None = None,
        on_partial: Callable | None = None,
        radio_args: dict | None = None,
        workdir: Path | None = None,
        home: Path | None = None,
        env: dict[str, str] | None = None,
        wait_connected: bool = True,
        progress: Callable[[str], None] = lambda _msg: None,
    ) -> None:
        """`engines` for bridge="in-process"; `env` is added to bridge="process"'s environment; `workdir` holds logs
        and earbud state (a temporary folder, removed at the end, when not given); `home` is EARPIECE_HOME
        (default: `workdir`/home)."""
        if bridge not in ("in-process", "process", None):
            raise ValueError(f"bridge must be 'in-process', 'process' or None, not {bridge!r}")
        if bridge == "in-process" and engines is None:
            raise ValueError("an in-process bridge needs engines")
        self._specs = list(earbuds)
        self._engines = engines
        self._mode = bridge
        self._on_turn = on_turn
        self._on_partial = on_partial
        self._radio_args = radio_args or {}
        self._own_workdir = workdir is None
        self.workdir = workdir
        self.home = home
        self._env = env or {}
        self._wait_connected = wait_connected
        self._progress = progress
        self._home: contextlib.ExitStack | None = None
        self._processes: list[SimProcess] = []
        self.radio: RadioProcess | None = None
        self.earbuds: list[EarbudProcess] = []
        self.devices: list = []  # PairedDevice, one per earbud
        self.registry = None
        self.adapter = None
        self.bridge = None  # a host.bridge.bridge.Bridge when in-process
        self.bridge_process: BridgeProcess | None = None

    async def __aenter__(self) -> SystemHarness:
        try:
            await self._start()
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _start(self) -> None:
        from host.link.adapter import resolve_adapter
        from host.link.registry import DeviceRegistry

        if self.workdir is None:
            self.workdir = Path(tempfile.mkdtemp(prefix="earpiece-system-"))
        self.home = self.home or self.workdir / "home"
        self._home = contextlib.ExitStack()
        self._home.enter_context(earpiece_home(self.home))
        self.registry = DeviceRegistry()
        self._progress("starting the virtual radio")
        self.radio = self.adopt(await _in_thread(lambda: start_radio(log_dir=self.workdir, **self._radio_args)))
        self.adapter = resolve_adapter(f"sim:{self.radio.address}")
        for index, spec in enumerate(self._specs):
            earbud = await self.start_earbud(spec, self.workdir / f"earbud-{index}")
            self._progress(f"pairing with {earbud.name} ({earbud.address}), passkey {earbud.passkey:06d}")
            self.devices.append(await self.pair(earbud.address, earbud.passkey))
        if self._mode == "in-process":
            from host.bridge.bridge import Bridge

            self._progress("bridge connecting")
            self.bridge = Bridge(self._engines, adapter=self.adapter, registry=self.registry, devices=self.devices,
                                 on_turn=self._on_turn, on_partial=self._on_partial, control_server=False)
            await self.bridge.start()
            if self._wait_connected:
                await asyncio.gather(*(runner.link.wait_connected(timeout=CONNECT_TIMEOUT_S)
                                       for runner in self.bridge.runners.values()))
        elif self._mode == "process":
            self._progress("starting `earpiece run`")
            self.bridge_process = BridgeProcess(bridge_env(self.home, self.radio, **self._env),
                                                self.workdir / "bridge.log")
            if self._wait_connected:
                await asyncio.to_thread(self.bridge_process.wait_connected)

    async def start_earbud(self, spec: EarbudSpec, state_dir: Path) -> EarbudProcess:
        """Start one more earbud on the radio (stopped with the rest); a random passkey unless the spec has one."""
        self._progress(f"starting simulated earbud {spec.name} on {self.radio.address}")
        passkey = spec.passkey if spec.passkey is not None else secrets.randbelow(1_000_000)
        try:
            earbud = await _in_thread(lambda: start_earbud(
                self.radio, spec.name, state_dir=state_dir, mic=list(spec.mic), speaker=spec.speaker,
                passkey=passkey, extra_args=list(spec.extra_args)))
        except TimeoutError as error:
            raise EarbudStartError(spec.name, _own_complaint(state_dir / "earbud.log")) from error
        self.earbuds.append(self.adopt(earbud))
        return earbud

    async def pair(self, address: str, passkey: int):
        """Pair with the earbud at `address` into this system's home and registry: its PairedDevice."""
        return await pair(self.radio, address, passkey, registry=self.registry)

    def adopt(self, process: P) -> P:
        """Stop `process` (e.g. an `earpiece-sim swarm`) with the rest, before the radio."""
        self._processes.append(process)
        return process

    def runner(self, index: int = 0):
        """The in-process bridge's EarbudRunner for earbud `index`."""
        return self.bridge.runners[self.devices[index].address]

    async def close(self) -> None:
        """Bridge, then earbuds, then radio; the home and a workdir of ours are restored/removed. Idempotent."""
        try:
            if self.bridge is not None:
                bridge, self.bridge = self.bridge, None
                try:
                    await asyncio.wait_for(bridge.close(), BRIDGE_CLOSE_TIMEOUT_S)
                except asyncio.TimeoutError:
                    log.warning("the bridge took over %.0f s to close; stopping the processes instead",
                                BRIDGE_CLOSE_TIMEOUT_S)
        finally:
            if self.bridge_process is not None:
                self.bridge_process.stop()
            for process in reversed(self._processes):  # the radio was adopted first: it goes last
                process.stop()
            self._processes.clear()
            if self._home is not None:
                self._home.close()
                self._home = None
            if self._own_workdir and self.workdir is not None:
                shutil.rmtree(self.workdir, ignore_errors=True)


def _own_complaint(log_path: Path) -> str:
    """The earbud's own one-line reason for failing (its `earpiece-sim: ...` line), else where its log was."""
    try:
        lines = [line for line in log_path.read_text(errors="replace").splitlines() if line.startswith("earpiece-sim")]
    except OSError:
        lines = []
    return lines[-1].split(": ", 1)[-1] if lines else "it did not start; run with -v for its log"
