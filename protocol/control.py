"""Control and status messages (README §4): type u8, length u8, payload; several per write or notification.

Every message class has .encode() -> bytes, == by fields and a readable repr. decode_messages() parses a whole
write/notification; encode_messages() builds one; pack_messages() splits a list over several notifications.
Types 0x01..0x7F go host -> earbud (control characteristic), 0x81..0xFF earbud -> host (status characteristic);
each class says which in FROM_HOST.
"""
from protocol.errors import BAD_FIELD, TOO_LONG, TRUNCATED, UNKNOWN_TYPE, ProtocolError
from protocol.gatt import MAX_ATT_PAYLOAD

MAX_PAYLOAD = 240  # the largest `length` byte allowed
MAX_STRING_BYTES = 32

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

# Field kinds on the wire. A field is (attribute, kind, allowed): allowed is None (the kind's whole range) or a
# tuple of inclusive (low, high) ranges.
U8 = "u8"
U16 = "u16"
U16_WRAP = "u16 wrap"  # a counter: encoded modulo 65536
U32 = "u32"
BOOL = "bool"  # u8 0 or 1, a bool in Python
STRING = "string"  # u8 byte count (<= 32), then UTF-8

_KIND_MAX = {U8: 0xFF, U16: 0xFFFF, U16_WRAP: 0xFFFF, U32: 0xFFFFFFFF, BOOL: 1}
_KIND_BYTES = {U8: 1, U16: 2, U16_WRAP: 2, U32: 4, BOOL: 1}


def _utf8_valid(data):
    """Strict UTF-8 as CPython decodes it (no overlongs, surrogates or code points above U+10FFFF).

    Checked by hand because MicroPython's decoder accepts all of those, and both must agree byte for byte.
    """
    i = 0
    n = len(data)
    while i < n:
        b = data[i]
        if b < 0x80:
            i += 1
            continue
        if 0xC2 <= b <= 0xDF:
            extra, low, high = 1, 0x80, 0xBF
        elif b == 0xE0:
            extra, low, high = 2, 0xA0, 0xBF
        elif 0xE1 <= b <= 0xEC or 0xEE <= b <= 0xEF:
            extra, low, high = 2, 0x80, 0xBF
        elif b == 0xED:
            extra, low, high = 2, 0x80, 0x9F
        elif b == 0xF0:
            extra, low, high = 3, 0x90, 0xBF
        elif 0xF1 <= b <= 0xF3:
            extra, low, high = 3, 0x80, 0xBF
        elif b == 0xF4:
            extra, low, high = 3, 0x80, 0x8F
        else:
            return False
        if i + extra >= n:
            return False
        if not low <= data[i + 1] <= high:
            return False
        for k in range(2, extra + 1):
            if not 0x80 <= data[i + k] <= 0xBF:
                return False
        i += extra + 1
    return True


def _check_value(name, field, value):
    attribute, kind, allowed = field
    if kind == STRING:
        if not isinstance(value, str):
            raise ProtocolError(BAD_FIELD, "%s %s must be a str, not %s" % (name, attribute, type(value).__name__))
        try:
            raw = value.encode("utf-8")
        except UnicodeError:
            raise ProtocolError(BAD_FIELD, "%s %s %r cannot be encoded as UTF-8" % (name, attribute, value))
        if len(raw) > MAX_STRING_BYTES:
            raise ProtocolError(BAD_FIELD, "%s %s is %d bytes of UTF-8, more than %d"
                                % (name, attribute, len(raw), MAX_STRING_BYTES))
        return raw
    if value is True or value is False:
        value = 1 if value else 0  # MicroPython's bool is not an int subclass
    elif not isinstance(value, int):
        raise ProtocolError(BAD_FIELD, "%s %s must be an int, not %s" % (name, attribute, type(value).__name__))
    if kind == U16_WRAP and value >= 0:
        value &= 0xFFFF
    if not 0 <= value <= _KIND_MAX[kind]:
        raise ProtocolError(BAD_FIELD, "%s %s %d is outside 0..%d" % (name, attribute, value, _KIND_MAX[kind]))
    if allowed is not None:
        for low, high in allowed:
            if low <= value <= high:
                break
        else:
            raise ProtocolError(BAD_FIELD, "%s %s %d is not one of %s" % (name, attribute, value, _ranges_text(allowed)))
    return value


def _ranges_text(allowed):
    parts = []
    for low, high in allowed:
        parts.append("%d" % low if low == high else "%d..%d" % (low, high))
    return ", ".join(parts)


class Message:
    """Base of every control/status message. Subclasses set TYPE, NAME, FIELDS (wire order) and GROWS."""

    TYPE = 0
    NAME = "MESSAGE"
    FIELDS = ()
    GROWS = False  # "may grow": newer senders may append fields, which an older receiver ignores
    FROM_HOST = True

    def _wire_values(self):
        """Field values in wire order (Status overrides this to pack its flags byte)."""
        return [getattr(self, field[0]) for field in self.FIELDS]

    @classmethod
    def _from_wire_values(cls, values):
        return cls(*values)

    def _attributes(self):
        """(name, value) pairs for == and repr, in constructor order."""
        return [(field[0], getattr(self, field[0])) for field in self.FIELDS]

    def encode_payload(self):
        parts = []
        values = self._wire_values()
        for i in range(len(self.FIELDS)):
            field = self.FIELDS[i]
            value = _check_value(self.NAME, field, values[i])
            kind = field[1]
            if kind == STRING:
                parts.append(bytes((len(value),)))
                parts.append(value)
            else:
                parts.append(value.to_bytes(_KIND_BYTES[kind], "little"))
        return b"".join(parts)

    def encode(self):
        """type, length, payload; ProtocolError(BAD_FIELD) for a value that cannot be encoded."""
        payload = self.encode_payload()
        return bytes((self.TYPE, len(payload))) + payload

    def __eq__(self, other):
        return type(other) is type(self) and self._attributes() == other._attributes()

    def __ne__(self, other):
        return not self.__eq__(other)

    def __repr__(self):
        return "%s(%s)" % (type(self).__name__, ", ".join("%s=%r" % pair for pair in self._attributes()))


def _decode_payload(cls, payload):
    name = cls.NAME
    values = []
    offset = 0
    size = len(payload)
    for field in cls.FIELDS:
        attribute, kind, allowed = field
        if kind == STRING:
            if offset >= size:
                raise ProtocolError(TRUNCATED, "%s ends before its %s" % (name, attribute), cls.TYPE)
            count = payload[offset]
            offset += 1
            if count > MAX_STRING_BYTES:
                raise ProtocolError(BAD_FIELD, "%s %s is %d bytes, more than %d"
                                    % (name, attribute, count, MAX_STRING_BYTES), cls.TYPE)
            if offset + count > size:
                raise ProtocolError(TRUNCATED, "%s ends inside its %s" % (name, attribute), cls.TYPE)
            raw = bytes(payload[offset:offset + count])
            offset += count
            if not _utf8_valid(raw):
                raise ProtocolError(BAD_FIELD, "%s %s is not valid UTF-8" % (name, attribute), cls.TYPE)
            values.append(raw.decode("utf-8"))
            continue
        width = _KIND_BYTES[kind]
        if offset + width > size:
            raise ProtocolError(TRUNCATED, "%s has %d payload bytes, ends before its %s"
                                % (name, size, attribute), cls.TYPE)
        value = int.from_bytes(bytes(payload[offset:offset + width]), "little")
        offset += width
        try:
            _check_value(name, field, value)
        except ProtocolError as error:
            error.message_type = cls.TYPE
            raise
        values.append(value == 1 if kind == BOOL else value)
    if offset < size and not cls.GROWS:
        raise ProtocolError(TOO_LONG, "%s has %d payload bytes, more than its %d"
                            % (name, size, offset), cls.TYPE)
    return cls._from_wire_values(values)


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
    FIELDS = (("cue", U8, ((CUE_WAKE, CUE_CONNECTED),)),)

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
        messages.append(_decode_payload(cls, data[offset + 2:end]))
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
