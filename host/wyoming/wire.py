"""Reading Wyoming events with bounds: what a peer sends is checked before it is believed.

The `wyoming` library's own reader trusts its peer: a header line may be as long as the stream's buffer, and
`data_length`/`payload_length` are read however large they claim to be. A satellite server listens on the network,
so here every length has a ceiling, the header must be a JSON object of the documented shape, and the type must be
one the Wyoming protocol defines. Anything else raises `BadEvent` (one line, for the log) and the connection is
closed; the event types Wyoming defines but a satellite does not use are merely ignored by the satellite.
"""

from __future__ import annotations

import asyncio
import json

from wyoming.event import Event

from host.errors import EarpieceError

MAX_HEADER_BYTES = 16 * 1024  # the JSON line; real headers are under 300 bytes
MAX_DATA_BYTES = 64 * 1024  # the extra JSON data (an `info` is a few kB)
MAX_PAYLOAD_BYTES = 1024 * 1024  # audio chunks are a few kB; 1 MB is over 20 s of 22 kHz audio

# Every event type of the Wyoming protocol (wyoming 1.10). A type outside it is not a Wyoming peer speaking.
WYOMING_TYPES = frozenset({
    "audio-chunk", "audio-start", "audio-stop", "describe", "detect", "detection", "error", "handled",
    "handled-chunk", "handled-start", "handled-stop", "info", "intent", "intents-start", "intents-stop",
    "not-detected", "not-handled", "not-recognized", "pause-satellite", "ping", "played", "pong", "recognize",
    "run-pipeline", "run-satellite", "satellite-connected", "satellite-disconnected", "select-program",
    "streaming-started", "streaming-stopped", "synthesize", "synthesize-chunk", "synthesize-start",
    "synthesize-stop", "synthesize-stopped", "timer-cancelled", "timer-finished", "timer-started", "timer-updated",
    "transcribe", "transcript", "transcript-chunk", "transcript-start", "transcript-stop", "user-event",
    "voice-started", "voice-stopped",
})


class BadEvent(EarpieceError):
    """A peer sent something that is not a Wyoming event within our bounds; the message says what."""


async def read_event(reader: asyncio.StreamReader) -> Event | None:
    """The next event from `reader`; None at the end of the stream. Raises BadEvent.

    The reader must have been made with `limit=MAX_HEADER_BYTES` (asyncio.start_server(limit=...)), so that an
    endless header line is refused after that many bytes rather than buffered."""
    try:
        line = await reader.readline()
    except ValueError:  # asyncio's LimitOverrunError, as readline reports it
        raise BadEvent(f"event header longer than {MAX_HEADER_BYTES} bytes") from None
    if not line:
        return None
    if not line.endswith(b"\n"):
        return None  # the peer closed mid-header
    try:
        header = json.loads(line)
    except (UnicodeDecodeError, ValueError, RecursionError):  # (deeply nested brackets exhaust the parser)
        raise BadEvent(f"not a Wyoming event header: {line[:40]!r}") from None
    if not isinstance(header, dict) or not isinstance(header.get("type"), str):
        raise BadEvent(f"event header without a type: {line[:40]!r}")
    event_type = header["type"]
    if event_type not in WYOMING_TYPES:
        raise BadEvent(f"unknown event type {event_type[:40]!r}")
    data = header.get("data") or {}
    if not isinstance(data, dict):
        raise BadEvent(f"{event_type}: data is not a JSON object")
    data_length = _length(header, "data_length", MAX_DATA_BYTES, event_type)
    payload_length = _length(header, "payload_length", MAX_PAYLOAD_BYTES, event_type)
    try:
        if data_length:
            extra = json.loads(await reader.readexactly(data_length))
            if not isinstance(extra, dict):
                raise BadEvent(f"{event_type}: data is not a JSON object")
            data.update(extra)
        payload = await reader.readexactly(payload_length) if payload_length else None
    except asyncio.IncompleteReadError:
        return None  # the peer closed mid-event
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise BadEvent(f"{event_type}: its data is not JSON") from None
    return Event(type=event_type, data=data, payload=payload)


def _length(header: dict, key: str, maximum: int, event_type: str) -> int:
    value = header.get(key) or 0
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise BadEvent(f"{event_type}: {key} is not a length: {str(value)[:20]!r}")
    if value > maximum:
        raise BadEvent(f"{event_type}: {key} {value} is over the limit of {maximum} bytes")
    return value
