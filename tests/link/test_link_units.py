"""The link's parts that need no radio: adapter choice, identity, registry durability, bad packets."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from host.link import adapter as adapter_module
from host.link.adapter import AdapterError, adapter_spec, parse_adapter
from host.link.earbud_link import EarbudLink
from host.errors import EarpieceError
from host.link.errors import IdentityError
from host.link.identity import load_or_create_identity
from host.link.registry import AmbiguousDeviceError, DeviceRegistry
from protocol import control
from protocol.audio import CODEC_ADPCM, FrameEncoder

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def isolated_home(tmp_path, monkeypatch):
    monkeypatch.setenv("EARPIECE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("EARPIECE_ADAPTER", raising=False)
    return tmp_path / "home"


def test_adapter_specs_parse_to_bumble_transports():
    assert parse_adapter("native").is_native
    assert parse_adapter("sim:127.0.0.1:7420").bumble_transport == "tcp-client:127.0.0.1:7420"
    assert parse_adapter("usb:0").bumble_transport == "usb:0"
    assert parse_adapter("bumble:serial:/dev/ttyACM0").bumble_transport == "serial:/dev/ttyACM0"
    for bad in ("bogus", "sim:7420", "sim:host:notaport", "usb:", "sim:h:70000"):
        with pytest.raises(AdapterError):
            parse_adapter(bad)


def test_adapter_precedence_is_option_then_env_then_config_then_native(isolated_home, monkeypatch):
    assert adapter_spec() == "native"
    config_file = isolated_home / "config" / "config.toml"
    config_file.parent.mkdir(parents=True, exist_ok=True)  # config_dir() creates it (0700)
    config_file.write_text('[link]\nadapter = "usb:1"\n')
    assert adapter_spec() == "usb:1"
    monkeypatch.setenv("EARPIECE_ADAPTER", "sim:127.0.0.1:9")
    assert adapter_spec() == "sim:127.0.0.1:9"
    assert adapter_spec("usb:2") == "usb:2"


def test_adapter_works_without_the_config_module(monkeypatch):
    import host

    monkeypatch.setitem(sys.modules, "host.config", None)  # import fails as if the module did not exist
    monkeypatch.delattr(host, "config", raising=False)
    assert adapter_module._configured_adapter() is None
    assert adapter_spec() == "native"


def test_host_identity_is_created_once_and_reused(isolated_home):
    first = load_or_create_identity()
    again = load_or_create_identity()
    assert first == again
    assert int(first.address.split(":")[0], 16) & 0xC0 == 0xC0  # random static
    assert len(first.irk) == 16
    (isolated_home / "data" / "bluetooth_identity.json").write_text("{broken")
    with pytest.raises(IdentityError, match="damaged") as error:
        load_or_create_identity()
    assert isinstance(error.value, EarpieceError) and "\n" not in str(error.value)


def test_registry_finds_by_address_or_name_and_reports_ambiguity(isolated_home):
    registry = DeviceRegistry()
    registry.add("C1:00:00:00:00:01", "Left", "sim:127.0.0.1:1", model="EP-SIM")
    registry.add("c1:00:00:00:00:02", "Twin", "usb:0")
    registry.add("C1:00:00:00:00:03", "twin", "usb:0")
    assert registry.find("c1:00:00:00:00:01").name == "Left"
    assert registry.find("left").address == "C1:00:00:00:00:01"
    assert registry.find("Nobody") is None
    with pytest.raises(AmbiguousDeviceError) as error:
        registry.find("Twin")
    assert {d.address for d in error.value.matches} == {"C1:00:00:00:00:02", "C1:00:00:00:00:03"}
    registry.add("C1:00:00:00:00:01", "Left", "usb:0")  # re-pairing updates, keeps what it does not know
    assert registry.get("C1:00:00:00:00:01").model == "EP-SIM"
    assert registry.remove("C1:00:00:00:00:02") and not registry.remove("C1:00:00:00:00:02")
    assert [d.address for d in registry.all()] == ["C1:00:00:00:00:01", "C1:00:00:00:00:03"]


WRITER = """
import sys
from host.link.registry import DeviceRegistry
registry = DeviceRegistry()
i = 0
print("writing", flush=True)
while True:
    registry.add("C2:00:00:00:%02X:%02X" % (i // 256 % 256, i % 256), "bud%d" % i, "usb:0")
    i += 1
"""


@pytest.mark.e2e  # starts processes
def test_registry_survives_a_writer_killed_mid_write(isolated_home):
    registry = DeviceRegistry()
    registry.add("C1:00:00:00:00:01", "Keep", "usb:0")
    env = {**os.environ, "EARPIECE_HOME": str(isolated_home), "PYTHONPATH": str(REPO)}
    writer = subprocess.Popen([sys.executable, "-c", WRITER], env=env, stdout=subprocess.PIPE, text=True)
    assert writer.stdout.readline().strip() == "writing"
    time.sleep(0.5)
    writer.send_signal(signal.SIGKILL)
    writer.wait(5)
    db = sqlite3.connect(registry.path)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    db.close()
    devices = registry.all()
    assert registry.get("C1:00:00:00:00:01").name == "Keep"
    written = [d for d in devices if d.name.startswith("bud")]
    assert written, "the writer committed nothing in 0.5 s"
    # Committed entries are all there: consecutive from bud0, none lost in the middle.
    assert sorted(int(d.name[3:]) for d in written) == list(range(len(written)))


def test_bad_packets_from_the_earbud_are_counted_never_raised():
    """What bleak hands the link (good and bad) ends up counted, and the good parts in the link's queues."""

    async def run() -> None:
        link = EarbudLink("C1:00:00:00:00:09", adapter="sim:127.0.0.1:1")
        good = FrameEncoder(CODEC_ADPCM).encode(bytes(640))[0]
        for data in (b"", b"\x09", bytes(500), b"\x01\x00\x00", good):
            link._on_audio_notification(None, bytearray(data))
        for data in (b"\x82", b"\xff\x00", b"\x83\x01\x09", control.Button(control.BUTTON_DOUBLE).encode()):
            link._on_status_notification(None, bytearray(data))
        assert link.stats.audio_frames_received == 5
        assert link.stats.receiver["malformed"] == 4 and link.stats.receiver["received"] == 1
        assert link.stats.status_malformed == 3 and link.stats.messages_received == 1
        assert link.messages.get_nowait() == control.Button(control.BUTTON_DOUBLE) and link.messages.empty()
        assert len(link.audio.get_nowait()) == 640
        assert not await link.send_audio_frame(good)  # not connected: refused and counted
        assert link.stats.audio_frames_not_sent == 1
        with pytest.raises(ConnectionError):
            await link.send_control(control.GetStatus())
        json.dumps(link.stats.to_json())

    asyncio.run(run())


def test_link_gives_a_clear_error_when_the_radio_is_not_there():
    async def run() -> None:
        link = EarbudLink("C1:00:00:00:00:09", adapter="sim:127.0.0.1:9", reconnect=False)
        with pytest.raises(ConnectionError, match="127.0.0.1:9"):
            await link.connect(timeout=10)
        await link.close()

    asyncio.run(run())
