"""Bumble UUIDs <-> bleak's normalized UUID strings (lowercase 128-bit, as `bleak.uuids.normalize_uuid_str`)."""

import uuid

from bumble.core import UUID as BumbleUUID


def to_bleak(value: BumbleUUID) -> str:
    # Bumble keeps UUIDs little-endian; 16/32-bit ones expand on the Bluetooth base UUID.
    return str(uuid.UUID(bytes=bytes(reversed(value.to_bytes(force_128=True)))))
