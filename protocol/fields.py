"""How a control/status message's fields go on the wire: field kinds, range checks, and the Message base class.

A message class lists its FIELDS in wire order as (attribute, kind, allowed); this module encodes and decodes
payloads from that list, so protocol/control.py only declares which messages exist. Sans-I/O, MicroPython subset.
"""
from protocol.errors import BAD_FIELD, TOO_LONG, TRUNCATED, ProtocolError

MAX_STRING_BYTES = 32

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


def utf8_valid(data):
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


def decode_payload(cls, payload):
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
            if not utf8_valid(raw):
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
