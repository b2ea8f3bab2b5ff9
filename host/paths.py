"""Where Earpiece keeps things on the user's machine (XDG directories on Linux, the native ones elsewhere).

- config: settings (`config.toml`) — the user's choices, never deleted by us.
- data:   the device registry, bonds and the host's Bluetooth identity — losing these means re-pairing.
- cache:  models and other things that can always be obtained again.
- runtime: the running bridge's control socket.
Tests and the demo point these elsewhere with XDG_* variables (or EARPIECE_HOME, which puts all four below one
folder), so they never touch a user's bonds.
"""

import os
from pathlib import Path

import platformdirs

APP = "earpiece"


def _home_override(kind: str) -> Path | None:
    root = os.environ.get("EARPIECE_HOME")
    return Path(root) / kind if root else None


def config_dir() -> Path:
    return _home_override("config") or Path(platformdirs.user_config_dir(APP))


def data_dir() -> Path:
    return _home_override("data") or Path(platformdirs.user_data_dir(APP))


def cache_dir() -> Path:
    return _home_override("cache") or Path(platformdirs.user_cache_dir(APP))


def runtime_dir() -> Path:
    override = _home_override("run")
    if override:
        return override
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    return Path(xdg) / APP if xdg else data_dir() / "run"


def config_file() -> Path:
    return config_dir() / "config.toml"
