"""Earpiece link protocol, version 1: the reference implementation of README.md.

Sans-I/O (bytes in, values out) and written in the Python subset that MicroPython runs, because the earbud
firmware imports these very files. Import the parts you need: protocol.gatt, protocol.audio, protocol.adpcm,
protocol.receiver, protocol.control (its field codec: protocol.fields).
"""
from protocol.errors import ProtocolError

PROTOCOL_VERSION = 1
