"""Control and status messages (README §4): type u8, length u8, payload; several per write or notification.

Every message class has .encode() -> bytes, == by fields and a readable repr. decode_messages() parses a whole
write/notification; encode_messages() builds one; pack_messages() splits a list over several notifications.
Types 0x01..0x7F go host -> earbud (control characteristic), 0x81..0xFF earbud -> host (status characteristic);
each class says which in FROM_HOST. How fields are encoded and checked lives in protocol/fields.py.
"""
from protocol.errors import BAD_FIELD, TOO_LONG, TRUNCATED, UNKNOWN_TYPE, ProtocolError
from protocol.fields import MAX_STRING_BYTES  # noqa: F401 -- part of this module's names, as before the split
from protocol.fields import BOOL, STRING, U8, U16, U16_WRAP, U32, Message, decode_payload
from protocol.gatt import MAX_ATT_PAYLOAD

MAX_PAYLOAD = 240  # the largest `length` byte allowed

QUIET_SOURCE_SWITCH = 0
QUIET_SOURCE_HOST = 1
QUIET_SOURCE_VOICE = 2

CUE_WAKE = 1
CUE_LISTEN_END = 2
CUE_QUIET_ON = 3
CUE_QUIET_OFF = 4
CUE_ERROR = 5
CUE_PAIRING = 6
CUE_CONNECTED = 7
CUE_FOLLOW_UP = 8  # listening on for a follow-up after a reply, without the wake word

BUTTON_PRESS = 1
BUTTON_DOUBLE = 2
BUTTON_LONG = 3

ERR_MALFORMED = 1
ERR_UNSUPPORTED = 2
ERR_QUIET_HELD_BY_SWITCH = 3

CODECS_MASK_ADPCM = 1
CODECS_MASK_PCM16 = 2

BATTERY_UNKNOWN = 255

STATUS_FLAG_QUIET = 1
STATUS_FLAG_CHARGING = 2
STATUS_FLAG_PAIRING = 4

TYPE_HELLO = 0x01
TYPE_SET_QUIET = 0x10
TYPE_SET_VOLUME = 0x11
TYPE_PLAY_CUE = 0x12
TYPE_SET_CODEC = 0x13
TYPE_GET_STATUS = 0x14
TYPE_PING = 0x15
TYPE_STOP_PLAYBACK = 0x16
TYPE_EARBUD_HELLO = 0x81
TYPE_STATUS = 0x82
TYPE_BUTTON = 0x83
TYPE_SPEAKER = 0x84
TYPE_PONG = 0x85
TYPE_ERROR = 0x86

# --- host -> earbud ----------------------------------------------------------------------------------------------

class Hello(Message):
    """First message after connecting: the host's protocol version, codecs mask and software version."""
    TYPE = TYPE_HELLO
    NAME = "HELLO"
    FIELDS = (("version", U8, None), ("codecs", U8, None), ("software", STRING, None))
    GROWS = True

    def __init__(self, version, codecs, software):
        self.version = version
        self.codecs = codecs
        self.software = software


class SetQuiet(Message):
    TYPE = TYPE_SET_QUIET
    NAME = "SET_QUIET"
    FIELDS = (("quiet", BOOL, None), ("source", U8, ((QUIET_SOURCE_SWITCH, QUIET_SOURCE_VOICE),)))

    def __init__(self, quiet, source):
        self.quiet = quiet
        self.source = source


class SetVolume(Message):
    TYPE = TYPE_SET_VOLUME
    NAME = "SET_VOLUME"
    FIELDS = (("volume", U8, ((0, 100),)),)

    def __init__(self, volume):
        self.volume = volume


class PlayCue(Message):
    TYPE = TYPE_PLAY_CUE
    NAME = "PLAY_CUE"
    FIELDS = (("cue", U8, ((CUE_WAKE, CUE_FOLLOW_UP),)),)

    def __init__(self, cue):
        self.cue = cue


class SetCodec(Message):
    TYPE = TYPE_SET_CODEC
    NAME = "SET_CODEC"
    FIELDS = (("codec", U8, ((1, 2),)),)

    def __init__(self, codec):
        self.codec = codec


class GetStatus(Message):
    TYPE = TYPE_GET_STATUS
    NAME = "GET_STATUS"

    def __init__(self):
        pass


class Ping(Message):
    TYPE = TYPE_PING
    NAME = "PING"
    FIELDS = (("token", U32, None),)

    def __init__(self, token):
        self.token = token


class StopPlayback(Message):
    TYPE = TYPE_STOP_PLAYBACK
    NAME = "STOP_PLAYBACK"

    def __init__(self):
        pass


# --- earbud -> host ----------------------------------------------------------------------------------------------

class EarbudHello(Message):
    TYPE = TYPE_EARBUD_HELLO
    NAME = "EARBUD_HELLO"
    FIELDS = (("version", U8, None), ("codecs", U8, None), ("firmware", STRING, None))
    GROWS = True
    FROM_HOST = False

    def __init__(self, version, codecs, firmware):
        self.version = version
        self.codecs = codecs
        self.firmware = firmware


class Status(Message):
    """The earbud's state. quiet/charging/pairing are bools packed into one flags byte on the wire."""
    TYPE = TYPE_STATUS
    NAME = "STATUS"
    FIELDS = (
        ("flags", U8, None),
        ("quiet_source", U8, ((QUIET_SOURCE_SWITCH, QUIET_SOURCE_VOICE),)),
        ("battery", U8, ((0, 100), (BATTERY_UNKNOWN, BATTERY_UNKNOWN))),
        ("codec", U8, ((1, 2),)),
        ("volume", U8, ((0, 100),)),
        ("speaker_buffered_ms", U16, None),
        ("speaker_capacity_ms", U16, None),
        ("firmware", STRING, None),
    )
    ATTRIBUTES = ("quiet", "charging", "pairing", "quiet_source", "battery", "codec", "volume",
                  "speaker_buffered_ms", "speaker_capacity_ms", "firmware")
    GROWS = True
    FROM_HOST = False

    def __init__(self, quiet, charging, pairing, quiet_source, battery, codec, volume,
                 speaker_buffered_ms, speaker_capacity_ms, firmware):
        self.quiet = quiet
        self.charging = charging
        self.pairing = pairing
        self.quiet_source = quiet_source
        self.battery = battery
        self.codec = codec
        self.volume = volume
        self.speaker_buffered_ms = speaker_buffered_ms
        self.speaker_capacity_ms = speaker_capacity_ms
        self.firmware = firmware

    def _wire_values(self):
        flags = ((STATUS_FLAG_QUIET if self.quiet else 0) | (STATUS_FLAG_CHARGING if self.charging else 0)
                 | (STATUS_FLAG_PAIRING if self.pairing else 0))
        return [flags, self.quiet_source, self.battery, self.codec, self.volume, self.speaker_buffered_ms,
                self.speaker_capacity_ms, self.firmware]

    @classmethod
    def _from_wire_values(cls, values):
        # Undefined flag bits are ignored: a newer earbud may define them.
        flags = values[0]
        return cls(bool(flags & STATUS_FLAG_QUIET), bool(flags & STATUS_FLAG_CHARGING),
                   bool(flags & STATUS_FLAG_PAIRING), *values[1:])

    def _attributes(self):
        return [(name, getattr(self, name)) for name in self.ATTRIBUTES]


class Button(Message):
    TYPE = TYPE_BUTTON
    NAME = "BUTTON"
    FIELDS = (("event", U8, ((BUTTON_PRESS, BUTTON_LONG),)),)
    FROM_HOST = False

    def __init__(self, event):
        self.event = event


class Speaker(Message):
    """Speaker buffer report for downlink pacing; underruns/overflows are counters that wrap at 65536."""
    TYPE = TYPE_SPEAKER
    NAME = "SPEAKER"
    FIELDS = (("buffered_ms", U16, None), ("capacity_ms", U16, None),
              ("underruns", U16_WRAP, None), ("overflows", U16_WRAP, None))
    FROM_HOST = False

    def __init__(self, buffered_ms, capacity_ms, underruns, overflows):
        self.buffered_ms = buffered_ms
        self.capacity_ms = capacity_ms
        self.underruns = underruns
        self.overflows = overflows


class Pong(Message):
    TYPE = TYPE_PONG
    NAME = "PONG"
    FIELDS = (("token", U32, None),)
    FROM_HOST = False

    def __init__(self, token):
        self.token = token


class Error(Message):
    """A control message was refused: code (ERR_*) and the type byte of the message refused."""
    TYPE = TYPE_ERROR
    NAME = "ERROR"
    FIELDS = (("code", U8, ((ERR_MALFORMED, ERR_QUIET_HELD_BY_SWITCH),)), ("about", U8, None))
    FROM_HOST = False

    def __init__(self, code, about):
        self.code = code
        self.about = about


MESSAGE_CLASSES = (Hello, SetQuiet, SetVolume, PlayCue, SetCodec, GetStatus, Ping, StopPlayback,
                   EarbudHello, Status, Button, Speaker, Pong, Error)
_BY_TYPE = {}
for _cls in MESSAGE_CLASSES:
    _BY_TYPE[_cls.TYPE] = _cls


def decode_messages(data):
    """One write/notification -> list of messages (b"" -> []). Raises only ProtocolError, on the first fault;
    its message_type names the message at fault when its type byte was read."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ProtocolError(BAD_FIELD, "messages must be bytes, not %s" % type(data).__name__)
    size = len(data)
    if size > MAX_ATT_PAYLOAD:
        raise ProtocolError(TOO_LONG, "%d bytes of messages, more than %d per write" % (size, MAX_ATT_PAYLOAD))
    messages = []
    offset = 0
    while offset < size:
        if offset + 2 > size:
            raise ProtocolError(TRUNCATED, "message header cut after 1 byte at offset %d" % offset, data[offset])
        message_type = data[offset]
        length = data[offset + 1]
        if length > MAX_PAYLOAD:
            raise ProtocolError(TOO_LONG, "message type 0x%02x has length %d, more than %d"
                                % (message_type, length, MAX_PAYLOAD), message_type)
        end = offset + 2 + length
        if end > size:
            raise ProtocolError(TRUNCATED, "message type 0x%02x says %d payload bytes, only %d follow"
                                % (message_type, length, size - offset - 2), message_type)
        cls = _BY_TYPE.get(message_type)
        if cls is None:
            raise ProtocolError(UNKNOWN_TYPE, "unknown message type 0x%02x" % message_type, message_type)
        messages.append(decode_payload(cls, data[offset + 2:end]))
        offset = end
    return messages


def encode_messages(msgs):
    """Messages -> the bytes of one write/notification; ProtocolError(TOO_LONG) beyond 244 bytes."""
    data = b"".join([message.encode() for message in msgs])
    if len(data) > MAX_ATT_PAYLOAD:
        raise ProtocolError(TOO_LONG, "%d bytes of messages do not fit one %d-byte write: use pack_messages()"
                            % (len(data), MAX_ATT_PAYLOAD))
    return data


def pack_messages(msgs, limit=MAX_ATT_PAYLOAD):
    """Messages -> as few values as possible, each <= limit bytes, messages kept whole and in order."""
    values = []
    current = b""
    for message in msgs:
        encoded = message.encode()
        if len(encoded) > limit:
            raise ProtocolError(TOO_LONG, "%s is %d bytes, more than the %d-byte limit"
                                % (message.NAME, len(encoded), limit), message.TYPE)
        if len(current) + len(encoded) > limit:
            values.append(current)
            current = b""
        current += encoded
    if current:
        values.append(current)
    return values
