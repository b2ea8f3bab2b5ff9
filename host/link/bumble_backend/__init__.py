"""A bleak backend built on Bumble: real Bluetooth LE host protocol (HCI, L2CAP, ATT/GATT, SMP) in Python.

It drives a virtual radio (`earpiece-sim radio`) or a USB dongle directly, so host code written against bleak
runs unchanged where no system Bluetooth stack exists. Select it with `backend=` and a Bumble transport spec:

    BleakScanner(backend=BumbleBleakScanner, bumble={"transport": "tcp-client:127.0.0.1:7420"})
    BleakClient(address, backend=BumbleBleakClient, bumble={"transport": "usb:0"})
"""

from host.link.bumble_backend.client import BumbleBleakClient, NotBondedError, PairingFailedError
from host.link.bumble_backend.scanner import BumbleBleakScanner
from host.link.bumble_backend.stack import held_stack

__all__ = ["BumbleBleakClient", "BumbleBleakScanner", "NotBondedError", "PairingFailedError", "held_stack"]
