"""The earbud's console: the physical controls of a simulated earbud, typed one per line on stdin."""

from __future__ import annotations

import json

from device_sim.earbud import BUTTONS, SimulatedEarbud

HELP = "commands: quiet on|off, press, double, long, battery N, status, quit"


class QuitRequested(Exception):
    """`quit` was typed."""


def run_command(earbud: SimulatedEarbud, line: str) -> str | None:
    """Apply one console line; returns the line to show the user (None for nothing)."""
    words = line.strip().lower().split()
    if not words:
        return None
    command, args = words[0], words[1:]
    if command == "quiet" and args in (["on"], ["off"]):
        earbud.set_quiet_switch(args[0] == "on")
        return f"quiet switch {args[0]}"
    if command in BUTTONS and not args:
        earbud.press(BUTTONS[command])
        if command == "long":
            return "button long press: pairing mode for 3 minutes"
        return f"button {command}"
    if command == "battery" and len(args) == 1:
        try:
            percent = int(args[0])
        except ValueError:
            percent = -1
        if not 0 <= percent <= 100:
            return "error: battery takes a percentage 0..100, e.g. `battery 40`"
        earbud.set_battery(percent)
        return f"battery {percent}%"
    if command == "status" and not args:
        return "status: " + json.dumps(earbud.status(), sort_keys=True)
    if command in ("quit", "exit") and not args:
        raise QuitRequested()
    return f"error: unknown command {line.strip()!r}; {HELP}"
