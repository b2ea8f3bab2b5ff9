"""The bridge: keeps every paired earbud connected and runs one `EarbudRunner` per earbud; answers the local
control socket (`earpiece quiet`, `earpiece status` while the bridge holds the links)."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable

from host.assistant import Assistant
from host.bridge.control_socket import ControlServer
from host.bridge.enrolment import enrol_request
from host.bridge.quiet import QuietController
from host.bridge.reminder_bell import ring_reminders
from host.bridge.runner import EarbudRunner
from host.companion import Companion, MemoryStoreError, load_companion
from host.errors import EarpieceError
from host.link.adapter import Adapter
from host.link.registry import DeviceRegistry, PairedDevice
from host.pipeline.engines import Engines
from host.wyoming.satellites import start_satellites
from host.bridge.reports import TurnResult

SWITCH_INTERVAL_S = 0.0005

log = logging.getLogger(__name__)

class Bridge:
    """Every paired earbud, kept connected and listening; the control socket for the CLI."""

    def __init__(
        self,
        engines: Engines,
        adapter: Adapter | str | None = None,
        registry: DeviceRegistry | None = None,
        devices: list[PairedDevice] | None = None,
        on_turn: Callable[[str, TurnResult], None] | None = None,
        control_server: bool = True,
        companion: Companion | None = None,
        on_partial: Callable[[str, str], None] | None = None,
    ):
        self.engines = engines
        self.adapter = adapter
        self.registry = registry or DeviceRegistry()
        self.quiet = QuietController(self.registry)
        self._devices = devices
        self._on_turn = on_turn
        self._on_partial = on_partial
        self.runners: dict[str, EarbudRunner] = {}
        self._server = ControlServer(self.handle_request) if control_server else None
        self.companion = companion
        self._own_companion = companion is None
        self._reminders: asyncio.Task | None = None
        self.satellites = None  # host.wyoming.satellites.BridgeSatellites when [wyoming] satellite_port is set

    async def start(self) -> None:
        # The wake-word worker thread gives up the GIL on every onnxruntime call and takes it back; with Python's
        # default 5 ms switch interval it waits up to 5 ms each time the event loop is busy (a few hundred times
        # per tick with many earbuds). A bridge process hands the GIL over sooner.
        sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_INTERVAL_S))
        if self._server:
            await self._server.start()
        if self.companion is None and self.engines is not None:
            self.companion = open_companion(self.engines)
        for device in self._devices if self._devices is not None else self.registry.all():
            runner = EarbudRunner(device, self.engines, self.adapter, self.quiet, self._on_turn, self.companion,
                                  self._on_partial)
            self.runners[device.address] = runner
            await runner.start()
            log.info("bridge: %s (%s) added", device.name, device.address)
        if self.engines is not None:
            self.satellites = await start_satellites(self.engines.config, self.runners)
        if self.companion is not None and self.companion.reminders is not None:
            self._reminders = asyncio.create_task(ring_reminders(self.companion.reminders, self.runners),
                                                  name="reminders")

    async def close(self) -> None:
        if self._reminders is not None:
            self._reminders.cancel()
            await asyncio.gather(self._reminders, return_exceptions=True)
        if self.satellites is not None:
            await self.satellites.close()
        for runner in self.runners.values():
            await runner.close()
        if self._server:
            await self._server.close()
        if self._own_companion and self.companion is not None:
            self.companion.close(conversation=False)  # the model belongs to the engines

    async def __aenter__(self) -> Bridge:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def forget(self, address: str) -> bool:
        """An earbud was forgotten (`earpiece forget`): disconnect it and stop processing its audio at once."""
        runner = self.runners.pop(address.upper(), None)
        self.quiet.forget(address)
        if self.satellites is not None:
            await self.satellites.forget(address)
        if runner is None:
            return False
        await runner.close()
        log.info("bridge: %s (%s) forgotten", runner.device.name, runner.address)
        return True

    # --- control socket ------------------------------------------------------------------------------------------
    def _select(self, target: object) -> list[EarbudRunner]:
        if target is None or target == "":
            return list(self.runners.values())
        if not isinstance(target, str):
            raise BridgeRequestError("device must be a name or an address")
        if target.upper() in self.runners:
            return [self.runners[target.upper()]]
        matches = [r for r in self.runners.values() if r.device.name == target]
        if not matches:
            raise BridgeRequestError(f"no earbud named {target!r} is managed by the bridge; see `earpiece devices`")
        if len(matches) > 1:
            names = ", ".join(f"{r.device.name} ({r.address})" for r in matches)
            raise BridgeRequestError(f"{target!r} matches several earbuds: {names}; use the address")
        return matches

    async def handle_request(self, request: dict) -> dict:
        """One request from the control socket (see host/bridge/control_socket.py for the format)."""
        command = request.get("cmd")
        try:
            if command == "forget":
                address = request.get("address")
                if not isinstance(address, str):
                    raise BridgeRequestError("forget needs the earbud's address")
                return {"ok": True, "forgotten": await self.forget(address)}
            runners = self._select(request.get("device"))
        except BridgeRequestError as error:
            return {"ok": False, "error": str(error)}
        if command == "status":
            return {"ok": True, "devices": [r.status().to_json() for r in runners]}
        if command == "quiet":
            if not isinstance(request.get("quiet"), bool):
                return {"ok": False, "error": "quiet needs true or false"}
            outcomes = [await runner.set_quiet(request["quiet"]) for runner in runners]
            return {"ok": all(o.ok for o in outcomes), "devices": [o.to_json() for o in outcomes],
                    "error": "; ".join(o.error for o in outcomes if o.error) or None}
        if command == "enroll":  # `earpiece enroll`: learn the wearer's voice (host/bridge/enrolment.py)
            return await enrol_request(runners)
        return {"ok": False, "error": f"unknown command {command!r}"}


def open_companion(engines: Engines) -> Companion | None:
    """The user's memory and reminders, with the engines' conversation model. A memory file that cannot be used is
    reported (and left as it is): the bridge then answers with its skills and the model, without memory."""
    try:
        companion = load_companion(engines.config)
    except MemoryStoreError as error:
        log.error("%s", error)
        companion = Companion(Assistant(), None, None)
    companion.conversation, companion.persona = engines.conversation, engines.persona
    return companion


class BridgeRequestError(EarpieceError):
    """A control-socket request the bridge cannot carry out; the message says why."""
