"""The faults the soak injects, one function per kind. Each returns a record:
{"kind", "windows": [(t0, t1), ...] (when the system was knowingly disturbed: questions asked then do not count),
 "ok", "detail", "recovery_s"}.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time

from host.system.harness import BridgeProcess

CONNECT_TIMEOUT_S = 60.0
STARTUP_WATCH_S = 60.0  # loading the models alone takes 15-20 s on a busy machine
LOSSY_HOLD_S = 60.0
DISK_FULL_HOLD_S = 45.0


def all_connected(count: int):
    return lambda status: len(status) == count and all(d["connected"] for d in status.values())


def _wait_all_connected(soak) -> float | None:
    return soak.observer.wait_for(all_connected(soak.rig.count), CONNECT_TIMEOUT_S)


def pending_reminders(soak) -> list[dict]:
    result = soak.rig.cli("reminders", "list", "--json")
    if result.returncode != 0:
        return []
    return json.loads(result.stdout).get("reminders", [])


def bridge_kill(soak, event) -> dict:
    """SIGKILL mid-turn (a wake word heard, its turn under way), then `earpiece run` again."""
    soak.note_reminders_before_kill(pending_reminders(soak))
    busy = soak.observer.wait_for(lambda s: any(d["state"] in ("listening", "replying") for d in s.values()), 40.0)
    t0 = time.time()
    soak.rig.kill_bridge()
    soak.rig.start_bridge()
    recovery = _wait_all_connected(soak)
    return {"kind": "bridge_kill", "windows": [(t0, time.time())], "ok": recovery is not None,
            "detail": "mid-turn" if busy is not None else "no turn under way within 40 s: killed anyway",
            "recovery_s": recovery}


def _startup(soak, kind: str, spoil, restore, named: str | None = None) -> dict:
    """Stop the bridge, spoil a file, start `earpiece run` and watch it; restore the file, start it normally."""
    rig = soak.rig
    t0 = time.time()
    rig.bridge.stop()
    held = spoil()
    log = rig.workdir / f"startup-{kind}-{len(rig.bridge_logs)}.log"
    attempt = BridgeProcess(rig.env, log, verbose=True)
    rig.bridge_logs.append(log)
    rc, deadline, coped = None, time.time() + STARTUP_WATCH_S, False
    said_so = False  # still running, but it said in one line what is wrong with the file (and gave up on it)
    while time.time() < deadline and (rc := attempt.proc.poll()) is None and not coped and not said_so:
        time.sleep(0.5)
        coped = _all_connected_now(attempt, rig.count)
        said_so = named is not None and any(" ERROR: " in line and named in line
                                            for line in log.read_text(errors="replace").splitlines())
    attempt.stop()
    restore(held)
    text = log.read_text(errors="replace")
    errors = [line for line in text.splitlines() if ("error" in line.lower() or line.startswith("earpiece"))
              and "reconnector INFO" not in line]
    said = next((line for line in errors if " ERROR: " in line), errors[-1] if errors else "").strip()
    rig.start_bridge()
    recovery = _wait_all_connected(soak)
    ok = "Traceback" not in text and recovery is not None and (rc is not None or coped or said_so)
    outcome = (f"exited {rc}: {said[:300]}" if rc is not None else "coped: connected every earbud" if coped
               else f"said so and kept running: {said[:300]}" if said_so
               else f"neither connected nor exited within {STARTUP_WATCH_S:.0f} s, nor named the file")
    return {"kind": kind, "windows": [(t0, time.time())], "ok": ok, "detail": outcome, "recovery_s": recovery}


def _all_connected_now(bridge: BridgeProcess, count: int) -> bool:
    try:
        devices = bridge.devices()
    except (OSError, ValueError, KeyError):
        return False
    return len(devices) == count and all(d["connected"] for d in devices)


def _spoil_file(path, how):
    def spoil():
        original = path.read_bytes()
        how(path, original)
        return original

    def restore(original):
        for leftover in path.parent.glob(path.name + "-*"):  # a garbled SQLite's -wal/-shm
            leftover.unlink(missing_ok=True)
        path.write_bytes(original)
        os.chmod(path, 0o600)

    return spoil, restore


def startup_config(soak, event) -> dict:
    path = soak.rig.home / "config" / "config.toml"
    return _startup(soak, "startup_config", *_spoil_file(path, lambda p, o: p.write_text("[listen\nwake = = 3\n")))


def startup_sqlite_corrupt(soak, event) -> dict:
    path = soak.rig.data_dir() / "devices.sqlite3"
    return _startup(soak, "startup_sqlite_corrupt",
                    *_spoil_file(path, lambda p, o: p.write_bytes(b"\x13garbage" * 64 + o[512:])))


def startup_sqlite_locked(soak, event) -> dict:
    path = soak.rig.data_dir() / "devices.sqlite3"

    def spoil():
        connection = sqlite3.connect(path, timeout=1.0, isolation_level=None)
        connection.execute("BEGIN EXCLUSIVE")
        return connection

    def restore(connection):
        connection.execute("ROLLBACK")
        connection.close()

    return _startup(soak, "startup_sqlite_locked", spoil, restore)


def startup_bonds_truncated(soak, event) -> dict:
    path = soak.rig.data_dir() / "bonds.json"
    return _startup(soak, "startup_bonds_truncated", *_spoil_file(path, lambda p, o: p.write_bytes(o[: len(o) // 2])),
                    named="bonds.json")


def radio_restart_after_wake(soak, event) -> dict:
    """The radio process killed ~85 ms after a wake word (issue 16's finding 5), then started again."""
    observer = soak.observer
    before = observer.status_now() or {}
    deadline, heard = time.time() + 45.0, None
    while time.time() < deadline and heard is None:
        now = observer.status_now() or {}
        for name, device in now.items():
            if name in before and device["wake_detections"] > before[name]["wake_detections"]:
                heard = name
        before = now or before
        time.sleep(0.02)
    time.sleep(0.085)
    t0 = time.time()
    soak.note_reminders_before_kill([])
    soak.rig.restart_radio(lossy=False, kill=True)
    recovery = _wait_all_connected(soak)
    return {"kind": "radio_restart_after_wake", "windows": [(t0, time.time())], "ok": recovery is not None,
            "detail": f"85 ms after a wake word on {heard}" if heard else "no wake word within 45 s: killed anyway",
            "recovery_s": recovery}


def earbud_reboot(soak, event) -> dict:
    index = event.earbud % soak.rig.count
    name = soak.rig.names[index]
    t0 = time.time()
    soak.rig.reboot_earbud(index)
    recovery = soak.observer.wait_for(lambda s: s.get(name, {}).get("connected"), CONNECT_TIMEOUT_S)
    return {"kind": "earbud_reboot", "windows": [(t0, time.time())], "ok": recovery is not None,
            "detail": name, "recovery_s": recovery}


def lossy_link(soak, event) -> dict:
    """A crowded train for a minute: 30 ms interval, 10 % retransmissions (the radio restarted with them, and back).
    Questions asked during the minute count."""
    t0 = time.time()
    soak.rig.restart_radio(lossy=True, kill=False)
    first = _wait_all_connected(soak)
    t1 = time.time()
    time.sleep(LOSSY_HOLD_S)
    t2 = time.time()
    soak.rig.restart_radio(lossy=False, kill=False)
    second = _wait_all_connected(soak)
    return {"kind": "lossy_link", "windows": [(t0, t1), (t2, time.time())],
            "ok": first is not None and second is not None, "detail": f"{LOSSY_HOLD_S:.0f} s at 30 ms, 10 % lost",
            "recovery_s": first}


def disk_full(soak, event) -> dict:
    """The bridge's data disk full while memories and reminders are said; `earpiece quiet on` must still silence
    the earbud (issue 16's finding 1)."""
    rig = soak.rig
    if not rig.tmpfs:
        return {"kind": "disk_full", "windows": [], "ok": True, "skipped": rig.tmpfs_reason, "recovery_s": None}
    filler = rig.home / "filler"
    t0 = time.time()
    with open(filler, "wb") as handle:
        try:
            while True:
                handle.write(b"\0" * (1 << 20))
                handle.flush()
        except OSError:
            pass
    quiet_index = soak.quiet_earbud
    name = rig.names[quiet_index]
    result = rig.cli("quiet", "on", name, "--json")
    silenced = soak.observer.wait_for(lambda s: s.get(name, {}).get("earbud_quiet") is True, 10.0)
    rig.cli("quiet", "off", name, "--json")
    t1 = time.time()
    time.sleep(DISK_FULL_HOLD_S)
    filler.unlink()
    detail = "quiet on reached the earbud" if silenced is not None else f"quiet on did NOT reach the earbud: " \
                                                                         f"{(result.stderr or result.stdout)[-200:]}"
    return {"kind": "disk_full", "windows": [(t0, t1 + 2.0)], "ok": silenced is not None, "detail": detail,
            "recovery_s": None}


FAULTS = {f.__name__: f for f in (bridge_kill, startup_config, startup_sqlite_corrupt, startup_sqlite_locked,
                                   startup_bonds_truncated, radio_restart_after_wake, earbud_reboot, lossy_link,
                                   disk_full)}
