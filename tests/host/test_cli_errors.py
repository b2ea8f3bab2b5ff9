"""The link commands turn link failures into one-line messages that say what to do."""

from __future__ import annotations

import argparse
import errno

import pytest

from host.cli import link_commands
from host.cli.output import CliError


async def _raise(error: BaseException):
    raise error


def test_a_timeout_asks_whether_the_earbud_is_on_and_in_range():
    # TimeoutError is an OSError: it must not be taken for an unreachable Bluetooth service.
    with pytest.raises(CliError, match="is the earbud on and in range"):
        link_commands._run(_raise(TimeoutError()))


def test_a_missing_bluetooth_service_is_reported_as_such():
    with pytest.raises(CliError, match="system Bluetooth service is not reachable") as caught:
        link_commands._run(_raise(FileNotFoundError(errno.ENOENT, "No such file or directory")))
    assert "No such file or directory" in str(caught.value)


def test_status_through_a_bridge_without_earbuds_says_so(monkeypatch):
    from host.bridge import control_socket

    monkeypatch.setattr(control_socket, "request", lambda request, timeout: {"ok": True, "devices": []})
    with pytest.raises(CliError, match="manages no earbuds: pair one"):
        link_commands._status_from_bridge(argparse.Namespace(device=None, timeout=1.0))
