"""The host's quiet record: persisted, atomic, and it never leaves quiet on its own."""

import json

from host.bridge.quiet import QuietBook
from protocol import control

ADDR = "C0:11:22:33:44:55"


def test_quiet_survives_a_restart(tmp_path):
    book = QuietBook(tmp_path / "quiet.json")
    book.host_requested(ADDR, True, control.QUIET_SOURCE_VOICE)
    again = QuietBook(tmp_path / "quiet.json")
    assert again.get(ADDR).quiet is True
    assert again.get(ADDR).source_name == "voice"


def test_an_earbud_reporting_listening_does_not_unquiet_the_host(tmp_path):
    book = QuietBook(tmp_path / "quiet.json")
    book.host_requested(ADDR, True, control.QUIET_SOURCE_HOST)
    assert book.earbud_reported(ADDR, False, control.QUIET_SOURCE_HOST) is False
    assert book.get(ADDR).quiet is True


def test_the_switch_is_believed(tmp_path):
    book = QuietBook(tmp_path / "quiet.json")
    book.earbud_reported(ADDR, True, control.QUIET_SOURCE_SWITCH)
    assert book.get(ADDR).quiet and book.get(ADDR).source_name == "switch"
    assert book.earbud_reported(ADDR, False, control.QUIET_SOURCE_SWITCH) is True
    assert book.get(ADDR).quiet is False


def test_a_corrupt_file_is_kept_aside_not_lost(tmp_path):
    path = tmp_path / "quiet.json"
    path.write_text("{not json")
    book = QuietBook(path)
    assert book.get(ADDR).quiet is False
    assert (tmp_path / "quiet.corrupt").read_text() == "{not json"
    book.host_requested(ADDR, True, control.QUIET_SOURCE_HOST)
    assert json.loads(path.read_text())[ADDR]["quiet"] is True
