"""The host's record of which earbuds are quiet — kept on disk so that quiet survives bridge restarts.

Quiet is a promise to the user, so the rules lean one way: the host never leaves quiet on its own. An earbud that
reports "listening" while we know it quiet is believed only when its switch did it (the user's hand); otherwise we
keep quiet and the bridge tells the earbud again.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from host import paths
from protocol import control

log = logging.getLogger(__name__)

SOURCE_NAMES = {control.QUIET_SOURCE_SWITCH: "switch", control.QUIET_SOURCE_HOST: "host",
                control.QUIET_SOURCE_VOICE: "voice"}


@dataclass
class QuietEntry:
    quiet: bool = False
    source: int = control.QUIET_SOURCE_HOST

    @property
    def source_name(self) -> str:
        return SOURCE_NAMES.get(self.source, "unknown")


class QuietBook:
    """Per-earbud quiet state, written atomically to `quiet.json` in the data directory on every change."""

    def __init__(self, path: Path | None = None):
        self.path = path or paths.data_dir() / "quiet.json"
        self._lock = threading.Lock()
        self._entries: dict[str, QuietEntry] = self._load()

    def _load(self) -> dict[str, QuietEntry]:
        try:
            raw = json.loads(self.path.read_text())
            return {addr: QuietEntry(bool(v["quiet"]), int(v["source"])) for addr, v in raw.items()}
        except FileNotFoundError:
            return {}
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            # A damaged file must not unquiet anyone silently: keep it aside and start from "unknown".
            backup = self.path.with_suffix(".corrupt")
            os.replace(self.path, backup)
            log.error("quiet state file %s was unreadable (%s); moved to %s", self.path, error, backup)
            return {}

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = {addr: {"quiet": e.quiet, "source": e.source} for addr, e in self._entries.items()}
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".quiet-")
        with os.fdopen(fd, "w") as handle:
            json.dump(data, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.path)

    def get(self, address: str) -> QuietEntry:
        with self._lock:
            return self._entries.get(address.upper(), QuietEntry())

    def host_requested(self, address: str, quiet: bool, source: int) -> None:
        """The host (CLI or voice) asked for a change."""
        self._set(address, QuietEntry(quiet, source))

    def earbud_reported(self, address: str, quiet: bool, source: int) -> bool:
        """The earbud told us its state. Returns False when we keep quiet against its report (see module doc)."""
        current = self.get(address)
        if current.quiet and not quiet and source != control.QUIET_SOURCE_SWITCH:
            return False
        if current.quiet != quiet or current.source != source:
            self._set(address, QuietEntry(quiet, source))
        return True

    def forget(self, address: str) -> None:
        with self._lock:
            if self._entries.pop(address.upper(), None) is not None:
                self._save()

    def _set(self, address: str, entry: QuietEntry) -> None:
        with self._lock:
            self._entries[address.upper()] = entry
            self._save()
