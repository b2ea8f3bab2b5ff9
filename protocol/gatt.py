"""GATT layout of the earbud (README §1): UUIDs and ATT sizes."""

SERVICE_UUID = "e0a10001-7c10-41d0-987d-0b67e6c29723"
AUDIO_UP_UUID = "e0a10002-7c10-41d0-987d-0b67e6c29723"  # notify: one audio frame per notification
AUDIO_DOWN_UUID = "e0a10003-7c10-41d0-987d-0b67e6c29723"  # write without response: one audio frame per write
CONTROL_UUID = "e0a10004-7c10-41d0-987d-0b67e6c29723"  # write with response: control messages
STATUS_UUID = "e0a10005-7c10-41d0-987d-0b67e6c29723"  # read (latest STATUS) + notify: status messages

# Standard SIG services and characteristics (16-bit UUIDs).
BATTERY_SERVICE_UUID = 0x180F
BATTERY_LEVEL_UUID = 0x2A19
DEVICE_INFO_SERVICE_UUID = 0x180A
MANUFACTURER_NAME_UUID = 0x2A29
MODEL_NUMBER_UUID = 0x2A24
FIRMWARE_REVISION_UUID = 0x2A26

MANUFACTURER_NAME = "Earpiece"

PREFERRED_MTU = 247  # the host asks for this ATT MTU
MAX_ATT_PAYLOAD = 244  # PREFERRED_MTU - 3: every value in the protocol fits one notification or write
MIN_MTU = 185  # the smallest MTU where every frame (168 bytes + 3) still fits; below it the host refuses the link
