"""Where Earpiece keeps things on the user's machine (XDG directories on Linux, the native ones elsewhere).

- config: settings (`config.toml`) — the user's choices, never deleted by us.
- data:   the device registry, bonds and the host's Bluetooth identity — losing these means re-pairing.
- cache:  models and other things that can always be obtained again.
- runtime: the running bridge's control socket.
Tests and the demo point these elsewhere with XDG_* variables (or EARPIECE_HOME, which puts all four below one
folder), so they never touch a user's bonds.

config, data and runtime hold private things (keys, the registry, a control socket): they are created 0700
whatever the umask, so every file inside is out of other users' reach.
"""

import os
from pathlib import Path

import platformdirs

APP = "earpiece"


def _home_override(kind: str) -> Path | None:
    root = os.environ.get("EARPIECE_HOME")
    return Path(root) / kind if root else None


def _private(path: Path) -> Path:
    """Create `path` owner-only (0700) if missing, and make an existing one of ours owner-only."""
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        if path.stat().st_mode & 0o077:
            path.chmod(0o700)
    except OSError:  # read-only or foreign: whoever uses the path reports the real problem
        pass
    return path


def config_dir() -> Path:
    return _private(_home_override("config") or Path(platformdirs.user_config_dir(APP)))


def data_dir() -> Path:
    return _private(_home_override("data") or Path(platformdirs.user_data_dir(APP)))


def cache_dir() -> Path:
    return _home_override("cache") or Path(platformdirs.user_cache_dir(APP))


def runtime_dir() -> Path:
    override = _home_override("run")
    if override:
        return _private(override)
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    return _private(Path(xdg) / APP if xdg else data_dir() / "run")


def config_file() -> Path:
    return config_dir() / "config.toml"
