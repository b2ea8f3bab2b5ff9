"""Control and status messages: layouts from the README, round trips, every refusal, random bytes."""
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol import control as c
from protocol import fields
from protocol.errors import BAD_FIELD, CODES, TOO_LONG, TRUNCATED, UNKNOWN_TYPE, ProtocolError

short_text = st.text(max_size=32).filter(lambda s: len(s.encode("utf-8", "surrogatepass")) <= 32).filter(
    lambda s: not any(0xD800 <= ord(ch) <= 0xDFFF for ch in s))
LAST_CUE = c.PlayCue.FIELDS[0][2][0][1]  # the highest cue PLAY_CUE accepts
u8, u16, u32 = st.integers(0, 255), st.integers(0, 65535), st.integers(0, 2 ** 32 - 1)

messages = st.one_of(
    st.builds(c.Hello, u8, u8, short_text),
    st.builds(c.SetQuiet, st.booleans(), st.integers(0, 2)),
    st.builds(c.SetVolume, st.integers(0, 100)),
    st.builds(c.PlayCue, st.integers(1, LAST_CUE)),
    st.builds(c.SetCodec, st.integers(1, 2)),
    st.builds(c.GetStatus),
    st.builds(c.Ping, u32),
    st.builds(c.StopPlayback),
    st.builds(c.EarbudHello, u8, u8, short_text),
    st.builds(c.Status, st.booleans(), st.booleans(), st.booleans(), st.integers(0, 2),
              st.one_of(st.integers(0, 100), st.just(255)), st.integers(1, 2), st.integers(0, 100), u16, u16,
              short_text),
    st.builds(c.Button, st.integers(1, 3)),
    st.builds(c.Speaker, u16, u16, u16, u16),
    st.builds(c.Pong, u32),
    st.builds(c.Error, st.integers(1, 3), u8),
)

# (message, its bytes on the wire), written from the README tables by hand.
KNOWN = [
    (c.Hello(1, 3, "h-1"), bytes([0x01, 6, 1, 3, 3]) + b"h-1"),
    (c.SetQuiet(True, c.QUIET_SOURCE_VOICE), bytes([0x10, 2, 1, 2])),
    (c.SetVolume(100), bytes([0x11, 1, 100])),
    (c.PlayCue(c.CUE_CONNECTED), bytes([0x12, 1, 7])),
    (c.SetCodec(2), bytes([0x13, 1, 2])),
    (c.GetStatus(), bytes([0x14, 0])),
    (c.Ping(0x01020304), bytes([0x15, 4, 4, 3, 2, 1])),
    (c.StopPlayback(), bytes([0x16, 0])),
    (c.EarbudHello(1, 1, "0.1.0"), bytes([0x81, 8, 1, 1, 5]) + b"0.1.0"),
    (c.Status(True, True, False, c.QUIET_SOURCE_HOST, 87, 1, 60, 0x0102, 600, "x"),
     bytes([0x82, 11, 0b011, 1, 87, 1, 60, 2, 1, 0x58, 2, 1]) + b"x"),
    (c.Button(c.BUTTON_DOUBLE), bytes([0x83, 1, 2])),
    (c.Speaker(120, 600, 1, 65535), bytes([0x84, 8, 120, 0, 0x58, 2, 1, 0, 0xFF, 0xFF])),
    (c.Pong(7), bytes([0x85, 4, 7, 0, 0, 0])),
    (c.Error(c.ERR_QUIET_HELD_BY_SWITCH, 0x10), bytes([0x86, 2, 3, 0x10])),
]


@pytest.mark.parametrize("message, wire", KNOWN, ids=[type(m).__name__ for m, _ in KNOWN])
def test_known_layouts(message, wire):
    assert message.encode() == wire
    assert c.decode_messages(wire) == [message]


def test_every_message_class_is_covered_and_types_split_by_direction():
    assert {type(m) for m, _ in KNOWN} == set(c.MESSAGE_CLASSES)
    for cls in c.MESSAGE_CLASSES:
        assert (cls.TYPE < 0x80) == cls.FROM_HOST


@settings(max_examples=300, deadline=None)
@given(msgs=st.lists(messages, max_size=12))
def test_messages_round_trip_and_pack_into_att_sized_values(msgs):
    values = c.pack_messages(msgs)
    assert all(0 < len(v) <= 244 for v in values)
    decoded = [m for v in values for m in c.decode_messages(v)]
    assert decoded == msgs
    encoded = b"".join(m.encode() for m in msgs)
    if len(encoded) <= 244:
        assert c.encode_messages(msgs) == encoded and len(values) <= 1
    else:
        with pytest.raises(ProtocolError) as error:
            c.encode_messages(msgs)
        assert error.value.code == TOO_LONG


@settings(max_examples=300, deadline=None)
@given(msg=messages)
def test_equality_and_repr_are_by_fields(msg):
    twin = c.decode_messages(msg.encode())[0]
    assert twin == msg and not (twin != msg)
    assert repr(twin) == repr(msg) and repr(msg).startswith(type(msg).__name__ + "(")


def test_messages_of_different_types_or_fields_differ():
    assert c.Ping(1) != c.Pong(1)
    assert c.SetVolume(1) != c.SetVolume(2)
    assert c.GetStatus() == c.GetStatus() and c.GetStatus() != c.StopPlayback()


@settings(max_examples=1000, deadline=None)
@given(data=st.one_of(
    st.binary(max_size=260),
    # Mostly well-framed messages of known types, so the payload parsers get exercised, not just the framing.
    st.lists(st.tuples(st.sampled_from([m.TYPE for m, _ in KNOWN] + [0x00, 0x7F, 0x80, 0xFF]),
                       st.binary(max_size=40)), max_size=5).map(
        lambda parts: b"".join(bytes([t, len(p)]) + p for t, p in parts)),
))
def test_decode_messages_raises_only_protocol_error(data):
    try:
        decoded = c.decode_messages(data)
    except ProtocolError as error:
        assert error.code in CODES and str(error)
        return
    for msg in decoded:
        again = msg.encode()
        assert c.decode_messages(again) == [msg]


@pytest.mark.parametrize("data, code, message_type", [
    (b"\x11", TRUNCATED, 0x11),
    (b"\x11\x01", TRUNCATED, 0x11),
    (b"\x11\x00", TRUNCATED, 0x11),
    (b"\x11\x02\x05\x05", TOO_LONG, 0x11),
    (b"\x14\x01\x00", TOO_LONG, 0x14),
    (b"\x15\x03\x01\x02\x03", TRUNCATED, 0x15),
    (bytes([0x01, 241]) + bytes(241), TOO_LONG, 0x01),
    (b"\x02\x00", UNKNOWN_TYPE, 0x02),
    (b"\x80\x00", UNKNOWN_TYPE, 0x80),
    (b"\x14\x00\x99\x00", UNKNOWN_TYPE, 0x99),
    (b"\x11\x01\x65", BAD_FIELD, 0x11),
    (b"\x10\x02\x02\x00", BAD_FIELD, 0x10),
    (b"\x10\x02\x01\x03", BAD_FIELD, 0x10),
    (b"\x12\x01\x00", BAD_FIELD, 0x12),
    (bytes([0x12, 1, LAST_CUE + 1]), BAD_FIELD, 0x12),
    (b"\x13\x01\x03", BAD_FIELD, 0x13),
    (b"\x83\x01\x04", BAD_FIELD, 0x83),
    (b"\x86\x02\x04\x10", BAD_FIELD, 0x86),
    (bytes([0x82, 10, 0, 0, 101, 1, 0, 0, 0, 0, 0, 0]), BAD_FIELD, 0x82),
    (bytes([0x82, 10, 0, 3, 50, 1, 0, 0, 0, 0, 0, 0]), BAD_FIELD, 0x82),
    (bytes([0x01, 36, 1, 1, 33]) + b"a" * 33, BAD_FIELD, 0x01),
    (b"\x01\x05\x01\x01\x03ab", TRUNCATED, 0x01),
    (b"\x01\x04\x01\x01\x02\xc3", TRUNCATED, 0x01),
    (b"\x01\x04\x01\x01\x01\xff", BAD_FIELD, 0x01),
    (b"\x81\x05\x01\x01\x02\xc0\x80", BAD_FIELD, 0x81),  # overlong NUL
    (b"\x81\x06\x01\x01\x03\xed\xa0\x80", BAD_FIELD, 0x81),  # a surrogate
    (b"\x81\x02\x01\x01", TRUNCATED, 0x81),
])
def test_bad_messages_raise_with_code_and_type(data, code, message_type):
    with pytest.raises(ProtocolError) as error:
        c.decode_messages(data)
    assert error.value.code == code
    assert error.value.message_type == message_type


def test_whole_write_over_244_bytes_is_refused():
    with pytest.raises(ProtocolError) as error:
        c.decode_messages(b"\x14\x00" * 123)
    assert error.value.code == TOO_LONG
    assert len(c.decode_messages(b"\x14\x00" * 122)) == 122


def test_empty_write_holds_no_messages():
    assert c.decode_messages(b"") == []


def test_growing_messages_ignore_appended_fields():
    wire = c.Status(False, False, True, 0, 255, 2, 0, 0, 0, "fw").encode()
    grown = bytes([wire[0], wire[1] + 3]) + wire[2:] + b"new"
    assert c.decode_messages(grown) == [c.Status(False, False, True, 0, 255, 2, 0, 0, 0, "fw")]
    hello = bytes([0x01, 6, 1, 3, 1]) + b"v" + b"\x00\x00"
    assert c.decode_messages(hello) == [c.Hello(1, 3, "v")]


def test_undefined_status_flag_bits_are_ignored():
    wire = bytearray(c.Status(True, False, False, 0, 50, 1, 50, 0, 0, "").encode())
    wire[2] |= 0xF8
    (status,) = c.decode_messages(bytes(wire))
    assert (status.quiet, status.charging, status.pairing) == (True, False, False)


@pytest.mark.parametrize("message", [
    c.SetVolume(101), c.SetVolume(-1), c.SetVolume("10"), c.SetQuiet(2, 0), c.SetQuiet(True, 3),
    c.PlayCue(0), c.SetCodec(3), c.Ping(2 ** 32), c.Ping(-1), c.Button(0), c.Error(0, 1), c.Error(1, 256),
    c.Hello(256, 1, "x"), c.Hello(1, 1, "x" * 33), c.Hello(1, 1, "é" * 17), c.Hello(1, 1, b"bytes"),
    c.Hello(1, 1, "\udc80"), c.Speaker(65536, 0, 0, 0), c.Speaker(0, 0, -1, 0),
    c.Status(False, False, False, 0, 101, 1, 0, 0, 0, ""), c.Status(False, False, False, 0, 100, 0, 0, 0, 0, ""),
])
def test_encoders_refuse_values_they_cannot_encode(message):
    with pytest.raises(ProtocolError) as error:
        message.encode()
    assert error.value.code == BAD_FIELD


def test_speaker_counters_wrap_at_65536():
    assert c.decode_messages(c.Speaker(0, 600, 65536 + 5, 131072).encode()) == [c.Speaker(0, 600, 5, 0)]


def test_string_of_exactly_32_utf8_bytes_is_accepted():
    text = "é" * 16
    assert c.decode_messages(c.EarbudHello(1, 1, text).encode()) == [c.EarbudHello(1, 1, text)]


@settings(max_examples=1000, deadline=None)
@given(raw=st.one_of(st.binary(max_size=12), st.text(max_size=8).map(lambda s: s.encode("utf-8", "surrogatepass"))))
def test_utf8_check_agrees_with_cpython_strict_decoder(raw):
    try:
        raw.decode("utf-8")
        valid = True
    except UnicodeDecodeError:
        valid = False
    assert fields.utf8_valid(raw) == valid


def test_pack_messages_keeps_whole_messages_in_order_within_the_limit():
    msgs = [c.Ping(i) for i in range(100)]
    values = c.pack_messages(msgs, limit=20)
    assert all(len(v) <= 20 for v in values) and len(values) == 34
    assert [m for v in values for m in c.decode_messages(v)] == msgs
    assert c.pack_messages([]) == []
    with pytest.raises(ProtocolError):
        c.pack_messages([c.Hello(1, 1, "x" * 20)], limit=10)
