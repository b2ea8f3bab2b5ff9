"""Messages waiting to be notified on the status characteristic, bounded so a stalled link cannot grow RAM."""
from protocol.gatt import MAX_ATT_PAYLOAD

MAX_PENDING_NOTIFICATIONS = 32  # messages


class Outbox:
    """Encoded control messages for the host, packed into notification values of whole messages.

    While closed (no host connected) messages are not kept: the host reads STATUS after it connects.
    """

    def __init__(self, stats):
        self.open = False
        self._stats = stats  # the core's stats dict: counts "notifications_dropped"
        self._messages = []

    def put(self, message):
        if not self.open:
            return
        if len(self._messages) >= MAX_PENDING_NOTIFICATIONS:
            self._messages.pop(0)  # the oldest goes first
            self._stats["notifications_dropped"] += 1
        self._messages.append(message.encode())

    def clear(self):
        self._messages = []

    def take(self):
        """Values to notify, each <= 244 bytes of whole messages, in order; the outbox is then empty."""
        values = []
        current = b""
        for message in self._messages:
            if current and len(current) + len(message) > MAX_ATT_PAYLOAD:
                values.append(current)
                current = b""
            current += message
        if current:
            values.append(current)
        self._messages = []
        return values
