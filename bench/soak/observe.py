"""What the soak sees while it runs: the bridge's status (every earbud's counters, from its control socket) four
times a second, and once a second the bridge's RSS and CPU time and each earbud's own counters."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

STATUS_EVERY_S = 0.25
SLOW_EVERY_S = 1.0
KEPT = ("connected", "quiet", "quiet_source", "earbud_quiet", "state", "audio_frames_received", "frames_processed", "frames_dropped_quiet",
        "wake_detections", "asr_runs")


def rss_bytes(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return None


class Observer:
    """Samples in a thread until stop(): `samples` (status), `slow` (RSS, CPU, earbud stats)."""

    def __init__(self, rig) -> None:
        self.rig = rig
        self.samples: list[dict] = []  # {"t", "pid", "devices": {name: {...KEPT}}} (devices None: no answer)
        self.slow: list[dict] = []  # {"t", "pid", "rss", "cpu_s", "earbuds": {name: stats subset}}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="soak-observer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def status_now(self) -> dict | None:
        """{name: status} from the running bridge, or None when it does not answer."""
        from host.bridge import control_socket

        bridge = self.rig.bridge
        if bridge is None or bridge.proc.poll() is not None:
            return None
        try:
            devices = control_socket.request({"cmd": "status", "device": None}, bridge.socket, timeout=2.0)["devices"]
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return {d["name"]: {key: d.get(key) for key in KEPT} for d in devices}

    def _run(self) -> None:
        from host.system.simulator import cpu_seconds

        next_slow = 0.0
        while not self._stop.is_set():
            now = time.time()
            bridge = self.rig.bridge
            pid = bridge.pid if bridge is not None else None
            devices = self.status_now()
            self.samples.append({"t": now, "pid": pid, "devices": devices,
                                 "status_s": time.time() - now if devices is not None else None})
            if now >= next_slow:
                next_slow = now + SLOW_EVERY_S
                row = {"t": now, "pid": pid, "rss": None, "cpu_s": None, "earbuds": {}}
                if pid is not None and bridge.proc.poll() is None:
                    row["rss"] = rss_bytes(pid)
                    try:
                        row["cpu_s"] = cpu_seconds(pid)
                    except (OSError, IndexError, ValueError):
                        pass
                for name, earbud in zip(self.rig.names, list(self.rig.earbuds)):
                    try:
                        stats = json.loads(earbud.stats_path.read_text())
                    except (OSError, ValueError):
                        continue
                    row["earbuds"][name] = {"mic_started_at": stats.get("mic_started_at"),
                                            "audio_frames_sent": stats.get("audio_frames_sent")}
                self.slow.append(row)
            self._stop.wait(max(0.0, STATUS_EVERY_S - (time.time() - now)))

    def wait_for(self, predicate, timeout: float) -> float | None:
        """Seconds until predicate(status) is true for a fresh status (None: not within `timeout`)."""
        start = time.time()
        while time.time() - start < timeout:
            status = self.status_now()
            if status is not None and predicate(status):
                return time.time() - start
            time.sleep(0.1)
        return None
