"""The earbud's GATT server on aioble: the Earpiece, Battery and Device Information services (protocol README §1).

Device-only glue (needs `bluetooth` + aioble: `mpremote mip install aioble`); build.py compiles it with mpy-cross.
Security: every Earpiece characteristic value needs an encrypted link with a MITM-protected (passkey) key. The
stack enforces it for reads and writes through the characteristic flags; for notifications, which MicroPython
cannot guard at the CCCD, the app checks `link_secure()` before it sends anything.
"""
import bluetooth
from micropython import const

import aioble
import aioble.security  # noqa: F401 -- registers the bond store (ble_secrets.json): bonds survive reboots
from protocol import gatt

_FLAG_READ_ENCRYPTED = const(0x0200)
_FLAG_READ_AUTHENTICATED = const(0x0400)
_FLAG_WRITE_ENCRYPTED = const(0x1000)
_FLAG_WRITE_AUTHENTICATED = const(0x2000)
_SECURE_READ = _FLAG_READ_ENCRYPTED | _FLAG_READ_AUTHENTICATED
_SECURE_WRITE = _FLAG_WRITE_ENCRYPTED | _FLAG_WRITE_AUTHENTICATED

_IO_CAPABILITY_DISPLAY_ONLY = const(0)  # we "display" the passkey by speaking it
_APPEARANCE_EARBUD = const(0x0941)  # Audio Sink: Earbud
_ADDR_MODE_RANDOM_STATIC = const(1)


class EarpieceGatt:
    def __init__(self, model, firmware_version, manufacturer="Earpiece"):
        earpiece = aioble.Service(bluetooth.UUID(gatt.SERVICE_UUID))
        self.audio_up = aioble.Characteristic(earpiece, bluetooth.UUID(gatt.AUDIO_UP_UUID), notify=True)
        self.audio_down = aioble.BufferedCharacteristic(
            earpiece, bluetooth.UUID(gatt.AUDIO_DOWN_UUID), write_no_response=True, capture=True,
            max_len=gatt.MAX_ATT_PAYLOAD)
        self.control = aioble.BufferedCharacteristic(
            earpiece, bluetooth.UUID(gatt.CONTROL_UUID), write=True, capture=True, max_len=gatt.MAX_ATT_PAYLOAD)
        self.status = aioble.BufferedCharacteristic(
            earpiece, bluetooth.UUID(gatt.STATUS_UUID), read=True, notify=True, max_len=gatt.MAX_ATT_PAYLOAD)
        self.audio_down.flags |= _SECURE_WRITE
        self.control.flags |= _SECURE_WRITE
        self.status.flags |= _SECURE_READ

        battery = aioble.Service(bluetooth.UUID(gatt.BATTERY_SERVICE_UUID))
        self.battery = aioble.Characteristic(battery, bluetooth.UUID(gatt.BATTERY_LEVEL_UUID), read=True,
                                             notify=True, initial=b"\x00")

        info = aioble.Service(bluetooth.UUID(gatt.DEVICE_INFO_SERVICE_UUID))
        aioble.Characteristic(info, bluetooth.UUID(gatt.MANUFACTURER_NAME_UUID), read=True,
                              initial=manufacturer.encode())
        aioble.Characteristic(info, bluetooth.UUID(gatt.MODEL_NUMBER_UUID), read=True, initial=model.encode())
        aioble.Characteristic(info, bluetooth.UUID(gatt.FIRMWARE_REVISION_UUID), read=True,
                              initial=firmware_version.encode())

        aioble.config(mtu=gatt.PREFERRED_MTU, addr_mode=_ADDR_MODE_RANDOM_STATIC,
                      bond=True, le_secure=True, mitm=True, io=_IO_CAPABILITY_DISPLAY_ONLY)
        aioble.register_services(earpiece, battery, info)

    async def advertise(self, name, interval_us, timeout_ms=None):
        """Advertise (service UUID + name in the primary data) until a host connects; returns the connection."""
        return await aioble.advertise(
            interval_us, name=name, services=[bluetooth.UUID(gatt.SERVICE_UUID)],
            appearance=_APPEARANCE_EARBUD, timeout_ms=timeout_ms)

    @staticmethod
    def link_secure(connection):
        return connection is not None and connection.encrypted and connection.authenticated


def on_passkey_request(callback):
    """Call callback(conn_handle) for every 'display a passkey' request of LE Secure Connections pairing.

    aioble leaves _IRQ_PASSKEY_ACTION unhandled, so we add a handler to its IRQ chain. callback returns the
    six-digit passkey to display, or None to refuse (then the pairing fails on the host's side)."""
    from aioble import core

    _IRQ_PASSKEY_ACTION = const(31)
    _PASSKEY_ACTION_DISP = const(3)

    def handler(event, data):
        if event == _IRQ_PASSKEY_ACTION:
            conn_handle, action, _ = data
            if action == _PASSKEY_ACTION_DISP:
                passkey = callback(conn_handle)
                if passkey is not None:
                    core.ble.gap_passkey(conn_handle, action, passkey)
                return True
        return None

    try:
        core.register_irq_handler(handler, None)  # newer aioble: (handler, shutdown handler)
    except TypeError:
        core.register_irq_handler(handler)
