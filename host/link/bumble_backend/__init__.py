"""A bleak backend built on Bumble: real Bluetooth LE host protocol (HCI, L2CAP, ATT/GATT, SMP) in Python.

It drives a virtual radio (`earpiece-sim radio`) or a USB dongle directly, so host code written against bleak
runs unchanged where no system Bluetooth stack exists. Select it with `backend=` and a Bumble transport spec:

    BleakScanner(backend=BumbleBleakScanner, bumble={"transport": "tcp-client:127.0.0.1:7420"})
    BleakClient(address, backend=BumbleBleakClient, bumble={"transport": "usb:0"})

Only `host.link.adapter` imports this package (as bleak's generic code reaches its backends through one
interface); the rest of the host talks to the Adapter.
"""

from host.link.bumble_backend.bonds import delete_bond, has_bond
from host.link.bumble_backend.client import BumbleBleakClient
from host.link.bumble_backend.log_privacy import protect_bumble_logs
from host.link.bumble_backend.scanner import BumbleBleakScanner, name_shortened
from host.link.bumble_backend.stack import held_stack

protect_bumble_logs()  # before any Bumble logger can print a key

__all__ = ["BumbleBleakClient", "BumbleBleakScanner", "delete_bond", "has_bond", "held_stack", "name_shortened"]
