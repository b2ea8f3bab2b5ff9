"""`EarbudProtocol`: the earbud link's protocol, sans I/O (as h11 is for HTTP): bytes in, messages and PCM out.

It knows the HELLO handshake, decodes status notifications and audio frames, applies the quiet gate, and counts
everything in `stats`; it starts no task and touches no socket, so it is tested with plain bytes. The I/O shell
(EarbudLink) writes what it returns, feeds it what the earbud notifies, and resolves its own waiters from the
messages it hands back.

    protocol = EarbudProtocol(codecs, software)
    client.write(protocol.connection_started())         # the HELLO to send on every (re)connection
    for message in protocol.status_received(data): ...  # EarbudHello / Status / Button / ... (bad bytes: counted)
    pcm = protocol.audio_received(data)                 # 16 kHz PCM to deliver, or b"" (quiet, bad, held back)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from host.link.errors import LinkRefusedError
from protocol import PROTOCOL_VERSION, ProtocolError, control, gatt
from protocol.receiver import AudioReceiver

logger = logging.getLogger(__name__)


@dataclass
class LinkStats:
    """Counters of one link, over its whole life (all connections)."""

    connects: int = 0
    disconnects: int = 0
    connect_failures: int = 0
    last_reconnect_s: float | None = None  # from losing the link to being ready again
    audio_frames_received: int = 0
    audio_bytes_received: int = 0
    audio_frames_sent: int = 0
    audio_bytes_sent: int = 0
    audio_frames_not_sent: int = 0  # send_audio_frame while disconnected, or the write failed
    audio_queue_dropped: int = 0  # PCM dropped because nobody read the link's `audio` queue fast enough
    audio_frames_dropped_quiet: int = 0  # frames that arrived while quiet: dropped undecoded (the quiet gate)
    status_notifications: int = 0
    status_malformed: int = 0
    messages_received: int = 0
    callback_errors: int = 0  # the on_connection callback raised (logged, never fatal)
    receiver: dict[str, int] = field(default_factory=dict)  # AudioReceiver.stats: lost = sequence gaps

    @property
    def sequence_gaps(self) -> int:
        return self.receiver.get("lost", 0)

    def to_json(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        data["receiver"] = dict(self.receiver)
        data["sequence_gaps"] = self.sequence_gaps
        return data


class EarbudProtocol:
    """One earbud's side of the Earpiece GATT protocol, as seen by the host. Never raises on the earbud's bytes."""

    def __init__(self, codecs: int, software: str) -> None:
        self.codecs = codecs
        self.software = software
        # The quiet gate: while True, audio frames are dropped as they arrive, before any decoding.
        self.quiet = False
        self.receiver = AudioReceiver(reorder_window=0)  # BLE's link layer keeps order
        self.stats = LinkStats(receiver=self.receiver.stats)
        self.earbud_hello: control.EarbudHello | None = None  # of the current connection, once it answered
        self.last_status: control.Status | None = None

    def connection_started(self) -> bytes:
        """A new connection: forget the last one's HELLO; returns our HELLO, to write to the control point."""
        self.earbud_hello = None
        return control.Hello(PROTOCOL_VERSION, self.codecs, self.software[:32]).encode()

    @staticmethod
    def check_mtu(mtu: int) -> None:
        """Raises LinkRefusedError when the ATT MTU is too small for our frames (reconnecting will not help)."""
        if mtu < gatt.MIN_MTU:
            raise LinkRefusedError(
                f"the earbud allows an ATT MTU of only {mtu} bytes (Earpiece needs >= {gatt.MIN_MTU}); "
                "update its firmware"
            )

    @property
    def handshake_done(self) -> bool:
        return self.earbud_hello is not None

    def status_received(self, data: bytes) -> list[Any]:
        """One status notification -> the messages it carries (none if it is malformed: counted, dropped)."""
        self.stats.status_notifications += 1
        try:
            messages = control.decode_messages(bytes(data))
        except ProtocolError as error:
            self.stats.status_malformed += 1
            logger.debug("malformed status notification: %s", error)
            return []
        for message in messages:
            self.stats.messages_received += 1
            if isinstance(message, control.EarbudHello):
                self.earbud_hello = message
            elif isinstance(message, control.Status):
                self.last_status = message
        return messages

    def audio_received(self, data: bytes) -> bytes:
        """One audio notification -> PCM16LE to deliver now (b"" when quiet, malformed, or nothing to play yet)."""
        self.stats.audio_frames_received += 1
        self.stats.audio_bytes_received += len(data)
        if self.quiet:
            # Quiet means stopped: a frame from an earbud that should not be sending is never decoded.
            self.stats.audio_frames_dropped_quiet += 1
            return b""
        return self.receiver.receive(bytes(data))  # never raises; malformed frames are counted in its stats

    def audio_sent(self, frame: bytes, sent: bool) -> None:
        if sent:
            self.stats.audio_frames_sent += 1
            self.stats.audio_bytes_sent += len(frame)
        else:
            self.stats.audio_frames_not_sent += 1

    def reset_audio(self) -> None:
        """Forget the partial audio stream (quiet began): no concealment from old audio. The counters go on."""
        self.receiver.reset()

    @staticmethod
    def encode_control(message: Any) -> bytes:
        """A control message, a list of them (packed into one write), or already-encoded bytes -> bytes to write.

        Raises ProtocolError when a message cannot be encoded."""
        if isinstance(message, (bytes, bytearray)):
            return bytes(message)
        return control.encode_messages(message if isinstance(message, (list, tuple)) else [message])
