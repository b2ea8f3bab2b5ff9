"""The host's one owner of quiet: kept in the device registry, never leaves quiet on its own, never needs the disk."""

import json

import pytest

from host.bridge.quiet import QuietController
from host.link.registry import DeviceRegistry
from protocol import control

ADDR = "C0:11:22:33:44:55"


@pytest.fixture
def registry(isolated_home):
    registry = DeviceRegistry()
    registry.add(ADDR, "Earpiece-Test", "sim:127.0.0.1:9")
    return registry


def test_quiet_survives_a_restart_and_forget_clears_it(registry):
    QuietController(registry).host_requested(ADDR, True, control.QUIET_SOURCE_VOICE)
    again = QuietController(DeviceRegistry(registry.path))
    assert again.state(ADDR).quiet is True and again.state(ADDR).source_name == "voice"
    registry.remove(ADDR)
    registry.add(ADDR, "Earpiece-Test", "sim:127.0.0.1:9")  # paired again: a fresh start
    assert QuietController(registry).state(ADDR).quiet is False


def test_an_earbud_reporting_listening_does_not_unquiet_the_host(registry):
    quiet = QuietController(registry)
    quiet.host_requested(ADDR, True, control.QUIET_SOURCE_HOST)
    assert quiet.earbud_reported(ADDR, False, control.QUIET_SOURCE_HOST) is False
    assert quiet.is_quiet(ADDR)


def test_the_switch_is_believed_and_watchers_hear_each_flip(registry):
    quiet = QuietController(registry)
    flips = []
    quiet.watch(ADDR, flips.append)
    quiet.earbud_reported(ADDR, True, control.QUIET_SOURCE_SWITCH)
    assert quiet.state(ADDR).held_by_switch
    quiet.earbud_reported(ADDR, True, control.QUIET_SOURCE_SWITCH)  # no flip: no second call
    assert quiet.earbud_reported(ADDR, False, control.QUIET_SOURCE_SWITCH) is True
    assert flips == [True, False] and not quiet.is_quiet(ADDR)


def test_a_registry_that_cannot_be_written_keeps_quiet_in_memory(registry, tmp_path):
    quiet = QuietController(registry)
    flips = []
    quiet.watch(ADDR, flips.append)
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the registry's folder should be")
    registry.path = blocker / "devices.sqlite3"  # every write now fails, as on a full or broken disk
    assert quiet.host_requested(ADDR, True, control.QUIET_SOURCE_HOST) is True
    assert flips == [True] and quiet.is_quiet(ADDR)
    assert ADDR in quiet.save_errors and "devices.sqlite3" in quiet.save_errors[ADDR]


def test_the_old_quiet_file_moves_into_the_registry(registry, isolated_home):
    legacy = isolated_home / "data" / "quiet.json"
    legacy.write_text(json.dumps({ADDR: {"quiet": True, "source": control.QUIET_SOURCE_VOICE}}))
    assert QuietController(registry).state(ADDR).source_name == "voice"
    assert not legacy.exists()
