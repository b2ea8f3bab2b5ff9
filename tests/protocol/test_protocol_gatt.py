"""The GATT constants are the ones in the spec's table (protocol/README.md §1), and the package basics."""
import pathlib
import re

import protocol
from protocol import gatt
from protocol.errors import CODES, ProtocolError

README = pathlib.Path(protocol.__file__).with_name("README.md").read_text(encoding="utf-8")


def test_uuids_match_the_readme_table():
    rows = {
        "Earpiece service": gatt.SERVICE_UUID, "audio up": gatt.AUDIO_UP_UUID,
        "audio down": gatt.AUDIO_DOWN_UUID, "control": gatt.CONTROL_UUID, "status": gatt.STATUS_UUID,
        "Battery": gatt.BATTERY_SERVICE_UUID, "Battery Level": gatt.BATTERY_LEVEL_UUID,
        "Device Information": gatt.DEVICE_INFO_SERVICE_UUID, "Manufacturer Name": gatt.MANUFACTURER_NAME_UUID,
        "Model Number": gatt.MODEL_NUMBER_UUID, "Firmware Revision": gatt.FIRMWARE_REVISION_UUID,
    }
    for name, value in rows.items():
        match = re.search(r"^\| (?:\*\*)?%s(?:\*\*)? (?:\([^)]*\) )?\| `([^`]+)`" % re.escape(name), README, re.M)
        assert match, "no README row for %s" % name
        expected = match.group(1)
        assert (value if isinstance(value, str) else "0x%04X" % value) == expected, name


def test_uuids_are_lowercase_strings_and_sizes_fit():
    for uuid in (gatt.SERVICE_UUID, gatt.AUDIO_UP_UUID, gatt.AUDIO_DOWN_UUID, gatt.CONTROL_UUID, gatt.STATUS_UUID):
        assert uuid == uuid.lower() and len(uuid) == 36
    assert gatt.MAX_ATT_PAYLOAD == gatt.PREFERRED_MTU - 3
    assert "MTU 247" in README and "MTU ≥ 185" in README and gatt.MIN_MTU == 185


def test_protocol_error_is_a_value_error_with_a_code():
    assert protocol.PROTOCOL_VERSION == 1
    error = ProtocolError("TRUNCATED", "frame has 3 bytes")
    assert isinstance(error, ValueError) and error.code in CODES and str(error) == "frame has 3 bytes"
    assert protocol.ProtocolError is ProtocolError
