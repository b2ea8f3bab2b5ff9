"""One write to the control characteristic, split into its messages, with the ERROR to answer for each bad one."""
from protocol import ProtocolError, control


def read_messages(data):
    """[(type byte, message, 0) or (type byte, None, control.ERR_*)] in write order. A bad message costs only
    itself, except a truncated one, after which nothing can be trusted: it ends the list."""
    try:
        data = bytes(data)
    except Exception:  # not bytes at all: a glue bug, answered like any malformed write
        return [(0, None, control.ERR_MALFORMED)]
    items = []
    position = 0
    size = len(data)
    while position < size:
        kind = data[position]
        if size - position < 2 or size - position - 2 < data[position + 1]:
            items.append((kind, None, control.ERR_MALFORMED))
            break
        end = position + 2 + data[position + 1]
        try:
            for message in control.decode_messages(data[position:end]):
                items.append((kind, message, 0))
        except ProtocolError as error:
            unknown = error.code == "UNKNOWN_TYPE"
            items.append((kind, None, control.ERR_UNSUPPORTED if unknown else control.ERR_MALFORMED))
        except Exception:  # the decoder promises ProtocolError only; a bug there must not stop the earbud
            items.append((kind, None, control.ERR_MALFORMED))
        position = end
    return items
