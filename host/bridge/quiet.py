"""Quiet mode on the host: one owner, `QuietController`.

It holds each earbud's quiet state, keeps it in the device registry (so it survives restarts, and `forget` clears it
with the earbud's row), applies the rules, and tells whoever watches an earbud (the bridge's runner: the link's
quiet gate and the session) when it changes. The CLI, the control socket, voice and the link all ask it.

Quiet is a promise to the user, so the rules lean one way:
- The host never leaves quiet on its own. An earbud that reports "listening" while we know it quiet is believed only
  when its switch did it (the user's hand); otherwise quiet is kept and the earbud is told again.
- While the earbud's switch holds quiet, nothing on the computer can end it.
- Quiet never depends on the disk: the state changes in memory (and reaches the earbud) first; a registry that
  cannot be written (a full disk) costs only the record's survival of a restart, and is reported.

The earbud keeps its own state too: that is the point of a physical switch.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass

from host import paths
from host.errors import EarpieceError
from host.link.registry import DeviceRegistry
from protocol import control

log = logging.getLogger(__name__)

SOURCE_NAMES = {control.QUIET_SOURCE_SWITCH: "switch", control.QUIET_SOURCE_HOST: "host",
                control.QUIET_SOURCE_VOICE: "voice"}
LEGACY_FILE = "quiet.json"  # where quiet lived before the registry held it (migrated once)


@dataclass(frozen=True)
class QuietState:
    quiet: bool = False
    source: int = control.QUIET_SOURCE_HOST

    @property
    def source_name(self) -> str:
        return SOURCE_NAMES.get(self.source, "unknown")

    @property
    def held_by_switch(self) -> bool:
        return self.quiet and self.source == control.QUIET_SOURCE_SWITCH


def switch_holds_message(name: str) -> str:
    return f"{name}: the earbud's quiet switch holds quiet mode; slide it back to listen"


class QuietController:
    def __init__(self, registry: DeviceRegistry | None = None):
        self.registry = registry or DeviceRegistry()
        self._states: dict[str, QuietState] = {}
        self._watchers: dict[str, Callable[[bool], None]] = {}
        self.save_errors: dict[str, str] = {}  # address -> why its state could not be kept on disk
        self._migrate_legacy_file()
        for device in self.registry.all():
            self._states[device.address] = QuietState(device.quiet, device.quiet_source)

    # ---- reading ---------------------------------------------------------------------------------------------------

    def state(self, address: str) -> QuietState:
        return self._states.get(address.upper(), QuietState())

    def is_quiet(self, address: str) -> bool:
        return self.state(address).quiet

    def watch(self, address: str, on_change: Callable[[bool], None]) -> None:
        """Call `on_change(quiet)` whenever this earbud's quiet state flips (one watcher per earbud: its runner)."""
        self._watchers[address.upper()] = on_change

    # ---- changing --------------------------------------------------------------------------------------------------

    def host_requested(self, address: str, quiet: bool, source: int, persist: bool = True) -> bool:
        """The host (CLI or voice) asked for a change. Returns whether quiet flipped. `persist=False` leaves the
        disk for later (`persist()`), so that the earbud can be told first."""
        return self._set(address, QuietState(bool(quiet), source), persist)

    def earbud_reported(self, address: str, quiet: bool, source: int) -> bool:
        """The earbud told us its state. Returns False when we keep quiet against its report (see the rules)."""
        current = self.state(address)
        if current.quiet and not quiet and source != control.QUIET_SOURCE_SWITCH:
            return False
        if current != QuietState(bool(quiet), source):
            self._set(address, QuietState(bool(quiet), source), persist=True)
        return True

    def persist(self, address: str) -> bool:
        """Write this earbud's state to the registry. Never raises: a failure is logged and kept in `save_errors`."""
        address = address.upper()
        state = self.state(address)
        try:
            self.registry.set_quiet(address, state.quiet, state.source)
        except (EarpieceError, OSError) as error:
            self.save_errors[address] = str(error)
            log.error("quiet state of %s not saved (%s): it holds until the bridge stops", address, error)
            return False
        self.save_errors.pop(address, None)
        return True

    def forget(self, address: str) -> None:
        """The earbud was forgotten: its row (and quiet record) is gone from the registry; drop ours."""
        self._states.pop(address.upper(), None)
        self._watchers.pop(address.upper(), None)

    def _set(self, address: str, state: QuietState, persist: bool) -> bool:
        address = address.upper()
        flipped = self.state(address).quiet != state.quiet
        self._states[address] = state
        if flipped and address in self._watchers:
            self._watchers[address](state.quiet)
        if persist:
            self.persist(address)
        return flipped

    def _migrate_legacy_file(self) -> None:
        path = paths.data_dir() / LEGACY_FILE
        if not path.exists():
            return
        try:
            entries = json.loads(path.read_text())
            for address, entry in entries.items():
                if entry.get("quiet") and self.registry.get(address) is not None:
                    self.registry.set_quiet(address, True, int(entry.get("source", control.QUIET_SOURCE_HOST)))
            path.unlink()
        except (ValueError, AttributeError, TypeError, OSError, EarpieceError) as error:
            log.warning("could not move %s into the device registry (%s); it is kept as it is", path, error)
