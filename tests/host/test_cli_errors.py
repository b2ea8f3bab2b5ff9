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


@pytest.mark.parametrize("setting, message", [
    ('[tts]\nvoice = "klingon-xx"', "espeak-ng has no voice 'klingon-xx'"),
    ('[wake]\nmodel = "hey_kitt"', "unknown wake word 'hey_kitt'"),
    ('[wake]\nmodel = "WAKE_FILE"', "could not be loaded"),
])
def test_run_with_a_bad_voice_or_wake_model_is_a_one_line_error(isolated_home, use_models, tmp_path, capsys,
                                                                 setting, message):
    from host.cli import main
    from host.link.registry import DeviceRegistry

    not_a_model = tmp_path / "wake.onnx"
    not_a_model.write_bytes(b"this is not an onnx model")
    config = isolated_home / "config" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text(setting.replace("WAKE_FILE", str(not_a_model)) + "\n")
    DeviceRegistry().add("C0:11:22:33:44:55", "Earpiece-Test", "sim:127.0.0.1:9")
    assert main(["run"]) == 1
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("earpiece: error:")]
    assert len(errors) == 1 and message in errors[0], errors
    assert "Traceback" not in capsys.readouterr().err
