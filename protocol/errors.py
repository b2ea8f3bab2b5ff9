"""The one exception every decoder (and encoder) in this package raises, and its codes (README §5)."""

TRUNCATED = "TRUNCATED"  # fewer bytes than the header or the fields need
TOO_LONG = "TOO_LONG"  # more bytes than the frame or message allows
BAD_CODEC = "BAD_CODEC"  # unknown codec byte
BAD_FIELD = "BAD_FIELD"  # a field outside its range
UNKNOWN_TYPE = "UNKNOWN_TYPE"  # a message type not in README §4

CODES = (TRUNCATED, TOO_LONG, BAD_CODEC, BAD_FIELD, UNKNOWN_TYPE)


class ProtocolError(ValueError):
    """Bytes (or values) that do not follow the wire format. `code` is one of CODES; str() says what was wrong.

    message_type: for control messages, the type byte of the message refused when it is known (the earbud
    echoes it in its ERROR answer), else None.
    """

    def __init__(self, code, message, message_type=None):
        # super() with arguments: MicroPython has no ValueError.__init__ attribute to call directly.
        super().__init__(message)
        self.code = code
        self.message_type = message_type
