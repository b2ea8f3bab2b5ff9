"""The wearer's voiceprint: one speaker embedding per earbud, kept in `voiceprints.json` in the data folder.

An embedding is 256 numbers that describe a voice (host/pipeline/speaker_check.py); no audio is kept. It is still
the wearer's biometric data, so the file is the user's alone (0600 in the 0700 data folder), listed and deleted
with `earpiece memory voice`. Written whole to a temporary file and renamed, so a reader never sees half of it.
Readers (the bridge) notice a change by the file's modification time: forgetting takes effect at once.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

from host import paths
from host.errors import EarpieceError

FILE_NAME = "voiceprints.json"
LAYOUT = 1


class VoiceprintError(EarpieceError):
    """The voiceprint file cannot be read or written."""


@dataclass(frozen=True)
class Voiceprint:
    device: str
    """The earbud's name (as `earpiece devices` shows it): its wearer's voice."""
    embedding: np.ndarray
    enrolled_at: datetime
    voiced_s: float
    """Seconds of voice the embedding was made from."""

    def to_dict(self) -> dict:
        """For listings (not the numbers: they mean nothing to a reader)."""
        return {"device": self.device, "enrolled_at": self.enrolled_at.isoformat(timespec="seconds"),
                "voiced_s": round(self.voiced_s, 1)}


class Voiceprints:
    def __init__(self, path: Path | None = None):
        self.path = path or paths.data_dir() / FILE_NAME
        self._lock = threading.Lock()
        self._cache: tuple[float, dict[str, Voiceprint]] | None = None

    def all(self) -> list[Voiceprint]:
        return sorted(self._read().values(), key=lambda v: v.device)

    def get(self, device: str) -> Voiceprint | None:
        return self._read().get(device)

    def save(self, device: str, embedding: np.ndarray, voiced_s: float) -> Voiceprint:
        with self._lock:
            prints = dict(self._read())
            prints[device] = Voiceprint(device, np.asarray(embedding, dtype=np.float32),
                                        datetime.now().astimezone(), voiced_s)
            self._write(prints)
        return prints[device]

    def forget(self, device: str | None = None) -> list[Voiceprint]:
        """Delete one earbud's voiceprint (None: every one; the file goes). Returns what was deleted."""
        with self._lock:
            prints = dict(self._read())
            gone = list(prints.values()) if device is None else [p for p in [prints.pop(device, None)] if p]
            if device is None or not prints:
                try:
                    self.path.unlink(missing_ok=True)
                except OSError as error:
                    raise VoiceprintError(f"{self.path}: cannot delete it ({error.strerror}); delete it by hand") \
                        from None
                self._cache = None
            elif gone:
                self._write(prints)
        return gone

    # ---- the file ----------------------------------------------------------------------------------------------

    def _read(self) -> dict[str, Voiceprint]:
        try:
            mtime = self.path.stat().st_mtime_ns
        except FileNotFoundError:
            return {}
        except OSError as error:
            raise VoiceprintError(f"{self.path}: cannot read it ({error.strerror}); check its permissions") from None
        if self._cache is not None and self._cache[0] == mtime:
            return self._cache[1]
        try:
            data = json.loads(self.path.read_text())
            prints = {device: Voiceprint(device, np.asarray(entry["embedding"], dtype=np.float32),
                                         datetime.fromisoformat(entry["enrolled_at"]), float(entry["voiced_s"]))
                      for device, entry in data["voiceprints"].items()}
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise VoiceprintError(f"{self.path} is damaged ({type(error).__name__}): delete it with "
                                  "`earpiece memory voice --forget` and enrol again") from None
        self._cache = (mtime, prints)
        return prints

    def _write(self, prints: dict[str, Voiceprint]) -> None:
        data = {"earpiece_voiceprints": LAYOUT, "voiceprints": {
            p.device: {"enrolled_at": p.enrolled_at.isoformat(timespec="seconds"), "voiced_s": round(p.voiced_s, 2),
                       "embedding": [round(float(x), 6) for x in p.embedding]} for p in prints.values()}}
        temporary = self.path.with_name(self.path.name + ".tmp")
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as file:
                os.fchmod(file.fileno(), 0o600)
                json.dump(data, file)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, self.path)
        except OSError as error:
            raise VoiceprintError(f"{self.path}: cannot write it ({error.strerror}); is the disk full?") from None
        self._cache = None
