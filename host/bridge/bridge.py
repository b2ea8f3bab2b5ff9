"""The bridge: keeps every paired earbud connected and runs one `EarbudRunner` per earbud; answers the local
control socket (`earpiece quiet`, `earpiece status` while the bridge holds the links)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import Callable

from host.bridge.control_socket import ControlServer
from host.bridge.quiet import QuietBook
from host.bridge.runner import EarbudRunner
from host.link.adapter import Adapter
from host.link.registry import DeviceRegistry, PairedDevice
from host.pipeline.engines import Engines
from host.bridge.reports import TurnResult
from protocol import control

SWITCH_INTERVAL_S = 0.0005

log = logging.getLogger(__name__)

class Bridge:
    """Every paired earbud, kept connected and listening; the control socket for the CLI."""

    def __init__(
        self,
        engines: Engines,
        adapter: Adapter | str | None = None,
        registry: DeviceRegistry | None = None,
        quiet_book: QuietBook | None = None,
        devices: list[PairedDevice] | None = None,
        on_turn: Callable[[str, TurnResult], None] | None = None,
        control_server: bool = True,
    ):
        self.engines = engines
        self.adapter = adapter
        self.registry = registry or DeviceRegistry()
        self.quiet_book = quiet_book or QuietBook()
        self._devices = devices
        self._on_turn = on_turn
        self.runners: dict[str, EarbudRunner] = {}
        self._server = ControlServer(self.handle_request) if control_server else None

    async def start(self) -> None:
        # The wake-word worker thread gives up the GIL on every onnxruntime call and takes it back; with Python's
        # default 5 ms switch interval it waits up to 5 ms each time the event loop is busy (a few hundred times
        # per tick with many earbuds). A bridge process hands the GIL over sooner.
        sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_INTERVAL_S))
        if self._server:
            await self._server.start()
        for device in self._devices if self._devices is not None else self.registry.all():
            runner = EarbudRunner(device, self.engines, self.adapter, self.quiet_book, self._on_turn)
            self.runners[device.address] = runner
            await runner.start()
            log.info("bridge: %s (%s) added", device.name, device.address)

    async def close(self) -> None:
        for runner in self.runners.values():
            await runner.close()
        if self._server:
            await self._server.close()

    async def __aenter__(self) -> Bridge:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # --- control socket ------------------------------------------------------------------------------------------
    def _select(self, target: str | None) -> list[EarbudRunner]:
        if not target:
            return list(self.runners.values())
        upper = target.upper()
        if upper in self.runners:
            return [self.runners[upper]]
        matches = [r for r in self.runners.values() if r.device.name == target]
        if not matches:
            raise LookupError(f"no earbud named {target!r} is managed by the bridge; see `earpiece devices`")
        if len(matches) > 1:
            names = ", ".join(f"{r.device.name} ({r.device.address})" for r in matches)
            raise LookupError(f"{target!r} matches several earbuds: {names}; use the address")
        return matches

    async def handle_request(self, request: dict) -> dict:
        command = request.get("cmd")
        try:
            runners = self._select(request.get("device"))
        except LookupError as error:
            return {"ok": False, "error": str(error)}
        if command == "status":
            return {"ok": True, "devices": [r.status() for r in runners]}
        if command == "quiet":
            if not isinstance(request.get("quiet"), bool):
                return {"ok": False, "error": "quiet needs true or false"}
            results = []
            for runner in runners:
                results.append(await set_quiet(runner, request["quiet"]))
            return {"ok": all(r["ok"] for r in results), "devices": results,
                    "error": "; ".join(r["error"] for r in results if not r["ok"]) or None}
        return {"ok": False, "error": f"unknown command {command!r}"}


async def set_quiet(runner: EarbudRunner, quiet: bool, timeout: float = 5.0) -> dict:
    """Ask one earbud to enter or leave quiet (from the CLI), and report what it says it is now."""
    entry = runner.quiet_book.get(runner.device.address)
    if not quiet and entry.quiet and entry.source == control.QUIET_SOURCE_SWITCH:
        return {"ok": False, "device": runner.device.name, "address": runner.device.address, "quiet": True,
                "quiet_source": "switch",
                "error": f"{runner.device.name}: the earbud's quiet switch holds quiet mode; slide it back to listen"}
    try:
        await runner._send_control(control.SetQuiet(quiet, control.QUIET_SOURCE_HOST))
    except ConnectionError:
        pass  # the link dropped under us: the record holds the wish, and a reconnection applies it
    if not runner.link.connected:
        now = runner.quiet_book.get(runner.device.address)
        return {"ok": True, "device": runner.device.name, "address": runner.device.address, "quiet": now.quiet,
                "quiet_source": now.source_name, "pending": True, "error": None}
    with contextlib.suppress(ConnectionError, TimeoutError, asyncio.TimeoutError):
        status = await runner.link.request_status(timeout)
        runner._earbud_reported(bool(status.quiet), status.quiet_source)
    now = runner.quiet_book.get(runner.device.address)
    ok = now.quiet == quiet
    return {"ok": ok, "device": runner.device.name, "address": runner.device.address, "quiet": now.quiet,
            "quiet_source": now.source_name,
            "error": None if ok else f"{runner.device.name} stayed {'quiet' if now.quiet else 'listening'}"}
