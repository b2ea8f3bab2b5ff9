"""Reading events with bounds: whatever bytes arrive, the reader returns an event, None (the end) or BadEvent."""

from __future__ import annotations

import asyncio
import json

from hypothesis import given, settings
from hypothesis import strategies as st
from wyoming.audio import AudioChunk
from wyoming.event import Event

from host.wyoming.wire import MAX_HEADER_BYTES, BadEvent, read_event


def read_all(data: bytes) -> tuple[list[Event], BadEvent | None]:
    async def main():
        reader = asyncio.StreamReader(limit=MAX_HEADER_BYTES)
        reader.feed_data(data)
        reader.feed_eof()
        events = []
        try:
            while (event := await read_event(reader)) is not None:
                events.append(event)
        except BadEvent as error:
            return events, error
        return events, None

    return asyncio.run(main())


def encoded(event: Event) -> bytes:
    data = json.dumps(event.data).encode() if event.data else b""
    header = {"type": event.type, "data_length": len(data), "payload_length": len(event.payload or b"")}
    return json.dumps(header).encode() + b"\n" + data + (event.payload or b"")


def test_real_events_are_read_as_the_library_writes_them():
    chunk = AudioChunk(rate=16000, width=2, channels=1, audio=b"\x01\x02" * 300, timestamp=20).event()
    events, error = read_all(encoded(chunk) + encoded(Event("ping", {"text": "x"})))
    assert error is None and [e.type for e in events] == ["audio-chunk", "ping"]
    assert AudioChunk.from_event(events[0]).audio == b"\x01\x02" * 300 and events[1].data == {"text": "x"}


def test_deeply_nested_json_is_a_bad_event():
    _, error = read_all(b"[" * 10000 + b"\n")
    assert isinstance(error, BadEvent)
    header = json.dumps({"type": "describe", "data_length": 10000}).encode()
    _, error = read_all(header + b"\n" + b"[" * 10000)
    assert isinstance(error, BadEvent)


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=2000))
def test_any_bytes_give_events_the_end_or_bad_event(data):
    events, error = read_all(data)
    assert all(isinstance(e, Event) for e in events)
    assert error is None or ("\n" not in str(error) and len(str(error)) < 200)


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.sampled_from(["type", "data", "data_length", "payload_length", "version"]),
                       st.one_of(st.none(), st.integers(-5, 10**9), st.text(max_size=20), st.booleans(),
                                 st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=5),
                                                                                      st.integers(), max_size=2))),
       st.binary(max_size=64))
def test_any_header_gives_an_event_the_end_or_bad_event(header, rest):
    events, error = read_all(json.dumps(header).encode() + b"\n" + rest)
    assert error is None or "\n" not in str(error)
