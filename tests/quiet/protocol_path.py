"""A work-around shared by tests/quiet and tests/host (see the function)."""

from __future__ import annotations

import sys
from pathlib import Path


def import_protocol_without_tests_on_path() -> None:
    """tests/conftest.py puts tests/ on sys.path, where the folder tests/micropython/ passes for MicroPython's own
    `micropython` module (a namespace package) and breaks protocol/_mp.py's CPython fallback. Import the protocol
    package once with tests/ off the path, so it binds the fallback. (Remove once the root cause is fixed.)"""
    tests_dir = Path(__file__).resolve().parents[1]
    stray = sys.modules.get("micropython")
    if stray is not None and getattr(stray, "__file__", None) is None:
        del sys.modules["micropython"]
    saved = list(sys.path)
    sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != tests_dir]
    try:
        import protocol.adpcm  # noqa: F401
    finally:
        sys.path[:] = saved
