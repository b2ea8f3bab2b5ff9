"""Audio frames: layout, round trips, errors, and the FrameEncoder's stream rules."""
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol import adpcm
from protocol.audio import (
    CODEC_ADPCM, CODEC_PCM16, FLAG_END, FLAG_START, FRAME_BYTES, FRAME_MS, SAMPLE_RATE, SAMPLES_PER_FRAME,
    AudioFrame, FrameEncoder, decode_frame,
)
from protocol.errors import BAD_CODEC, BAD_FIELD, CODES, TOO_LONG, TRUNCATED, ProtocolError
from protocol.gatt import MAX_ATT_PAYLOAD, MIN_MTU
from protocol_signals import chirp_noise_silence, speech_pcm

frames = st.one_of(
    st.builds(AudioFrame, st.just(CODEC_ADPCM), st.integers(0, 65535), st.integers(0, 3), st.binary(min_size=160, max_size=160),
              st.integers(-32768, 32767), st.integers(0, 88)),
    st.builds(AudioFrame, st.just(CODEC_PCM16), st.integers(0, 65535), st.integers(0, 3), st.binary(min_size=160, max_size=160)),
)


def test_constants_agree_with_each_other_and_the_att_limits():
    for codec in (CODEC_ADPCM, CODEC_PCM16):
        assert SAMPLES_PER_FRAME[codec] * 1000 // SAMPLE_RATE == FRAME_MS[codec]
        assert FRAME_BYTES[codec] <= MAX_ATT_PAYLOAD and FRAME_BYTES[codec] + 3 <= MIN_MTU


def test_adpcm_frame_layout_is_the_readme_table():
    frame = AudioFrame(CODEC_ADPCM, 0x1234, FLAG_START, bytes(range(160)), predictor=-2, index=88)
    data = frame.encode()
    assert len(data) == 168
    assert data[:8] == bytes([1, 1, 0x34, 0x12, 0xFE, 0xFF, 88, 0])
    assert data[8:] == bytes(range(160))


def test_pcm16_frame_layout_is_the_readme_table():
    data = AudioFrame(CODEC_PCM16, 65535, FLAG_END, bytes(160)).encode()
    assert len(data) == 164 and data[:4] == bytes([2, 2, 0xFF, 0xFF])


@settings(max_examples=200, deadline=None)
@given(frame=frames)
def test_frames_round_trip(frame):
    data = frame.encode()
    assert len(data) == FRAME_BYTES[frame.codec]
    assert decode_frame(data) == frame
    assert decode_frame(bytearray(data)).encode() == data


@settings(max_examples=500, deadline=None)
@given(data=st.one_of(st.binary(max_size=200), st.binary(min_size=164, max_size=168).map(
    lambda b: bytes([b[0] % 3]) + b[1:])))
def test_decode_frame_raises_only_protocol_error(data):
    try:
        frame = decode_frame(data)
    except ProtocolError as error:
        assert error.code in CODES and str(error)
        return
    again = frame.encode()  # what decodes re-encodes, except reserved flag bits and the reserved byte
    assert again[0] == data[0] and again[1] == data[1] & 3 and again[2:4] == data[2:4]
    if frame.codec == CODEC_ADPCM:
        assert again[4:7] == data[4:7] and again[7] == 0 and again[8:] == data[8:]
    else:
        assert again[4:] == data[4:]
    assert len(frame.pcm()) == SAMPLES_PER_FRAME[frame.codec] * 2


@pytest.mark.parametrize("data, code", [
    (b"", TRUNCATED),
    (b"\x01\x00\x00", TRUNCATED),
    (bytes([1, 0, 0, 0]) + bytes(163), TRUNCATED),
    (bytes([1, 0, 0, 0]) + bytes(165), TOO_LONG),
    (bytes([2, 0, 0, 0]) + bytes(159), TRUNCATED),
    (bytes([2, 0, 0, 0]) + bytes(161), TOO_LONG),
    (bytes([0, 0, 0, 0]) + bytes(160), BAD_CODEC),
    (bytes([3, 0, 0, 0]) + bytes(160), BAD_CODEC),
    (bytes([1, 0, 0, 0, 0, 0, 89, 0]) + bytes(160), BAD_FIELD),
    (bytes([1, 0, 0, 0, 0, 0, 255, 0]) + bytes(160), BAD_FIELD),
])
def test_bad_frames_raise_with_their_code(data, code):
    with pytest.raises(ProtocolError) as error:
        decode_frame(data)
    assert error.value.code == code


def test_decode_frame_refuses_non_bytes():
    with pytest.raises(ProtocolError):
        decode_frame("not bytes")
    with pytest.raises(ProtocolError):
        decode_frame(None)


def test_reserved_bits_are_ignored_on_receipt():
    data = bytes([1, 0xFF, 5, 0, 0, 0, 3, 0x77]) + bytes(160)
    frame = decode_frame(data)
    assert frame.flags == FLAG_START | FLAG_END and frame.index == 3 and frame.predictor == 0


@pytest.mark.parametrize("frame, code", [
    (AudioFrame(4, 0, 0, bytes(160)), BAD_CODEC),
    (AudioFrame(CODEC_ADPCM, 65536, 0, bytes(160)), BAD_FIELD),
    (AudioFrame(CODEC_ADPCM, -1, 0, bytes(160)), BAD_FIELD),
    (AudioFrame(CODEC_ADPCM, 0, 256, bytes(160)), BAD_FIELD),
    (AudioFrame(CODEC_ADPCM, 0, 0, bytes(159)), TRUNCATED),
    (AudioFrame(CODEC_PCM16, 0, 0, bytes(161)), TOO_LONG),
    (AudioFrame(CODEC_ADPCM, 0, 0, bytes(160), predictor=40000), BAD_FIELD),
    (AudioFrame(CODEC_ADPCM, 0, 0, bytes(160), index=89), BAD_FIELD),
    (AudioFrame(CODEC_ADPCM, 0, 0, "x" * 160), BAD_FIELD),
])
def test_encoding_impossible_values_raises(frame, code):
    with pytest.raises(ProtocolError) as error:
        frame.encode()
    assert error.value.code == code


def _decoded(frames_bytes):
    return [decode_frame(f) for f in frames_bytes]


@pytest.mark.parametrize("codec", [CODEC_ADPCM, CODEC_PCM16])
def test_encoder_marks_start_and_end_and_numbers_frames_with_wrap(codec):
    encoder = FrameEncoder(codec, seq=65534)
    size = SAMPLES_PER_FRAME[codec] * 2
    out = _decoded(encoder.encode(bytes(size * 3 + 10)) + encoder.flush())
    assert [f.seq for f in out] == [65534, 65535, 0, 1]
    assert [f.flags for f in out] == [FLAG_START, 0, 0, FLAG_END]
    assert encoder.seq == 2
    # The next stream starts again with START and carries on numbering.
    again = _decoded(encoder.encode(bytes(size)))
    assert again[0].flags == FLAG_START and again[0].seq == 2


def test_flush_with_nothing_buffered_or_sent_returns_nothing():
    encoder = FrameEncoder()
    assert encoder.flush() == []
    encoder.encode(bytes(640))
    encoder.flush()
    assert encoder.flush() == []


def test_flush_after_whole_frames_sends_a_silent_end_frame():
    encoder = FrameEncoder(CODEC_PCM16)
    encoder.encode(bytes(range(160)))
    (end,) = _decoded(encoder.flush())
    assert end.flags == FLAG_END and end.payload == bytes(160)


def test_single_short_stream_is_one_start_end_frame_padded_with_silence():
    encoder = FrameEncoder(CODEC_PCM16)
    assert encoder.encode(struct.pack("<3h", 1, 2, 3)) == []
    assert encoder.buffered_samples == 3
    (frame,) = _decoded(encoder.flush())
    assert frame.flags == FLAG_START | FLAG_END
    assert frame.payload == struct.pack("<3h", 1, 2, 3) + bytes(154)


def test_adpcm_padding_encodes_silence_and_frames_carry_the_encoder_state():
    pcm = chirp_noise_silence(0.3)[:640 * 4 + 100]
    encoder = FrameEncoder()
    out = _decoded(encoder.encode(pcm) + encoder.flush())
    codes, _ = adpcm.encode(pcm + bytes(640 - 100))
    state = (0, 0)
    for i, frame in enumerate(out):
        assert (frame.predictor, frame.index) == state
        assert frame.payload == codes[160 * i:160 * (i + 1)]
        _, state = adpcm.decode(frame.payload, state)


@settings(max_examples=50, deadline=None)
@given(cuts=st.lists(st.integers(0, 3000), max_size=8), codec=st.sampled_from([CODEC_ADPCM, CODEC_PCM16]))
def test_frames_do_not_depend_on_how_the_pcm_is_chunked(cuts, codec):
    pcm = chirp_noise_silence(0.2)[:3001]  # odd length: a sample split across calls
    whole = FrameEncoder(codec)
    expected = whole.encode(pcm) + whole.flush()
    chunked = FrameEncoder(codec)
    got = []
    previous = 0
    for cut in sorted(cuts) + [len(pcm)]:
        got += chunked.encode(pcm[previous:cut])
        previous = max(previous, cut)
    assert got + chunked.flush() == expected


def test_restart_switches_codec_keeps_buffered_pcm_and_starts_a_new_stream():
    encoder = FrameEncoder(CODEC_ADPCM, seq=10)
    first = _decoded(encoder.encode(bytes(640 + 100)))
    encoder.restart(CODEC_PCM16)
    out = _decoded(encoder.encode(bytes(60)))
    assert [f.seq for f in first] == [10] and first[0].flags == FLAG_START
    assert [(f.codec, f.seq, f.flags) for f in out] == [(CODEC_PCM16, 11, FLAG_START)]
    with pytest.raises(ProtocolError) as error:
        encoder.restart(9)
    assert error.value.code == BAD_CODEC


def test_encoder_refuses_bad_arguments():
    with pytest.raises(ProtocolError):
        FrameEncoder(codec=0)
    with pytest.raises(ProtocolError):
        FrameEncoder(seq=70000)
    with pytest.raises(ProtocolError):
        FrameEncoder().encode("text")


def test_frames_decode_speech_to_the_same_pcm_as_one_continuous_decode():
    pcm = speech_pcm()
    encoder = FrameEncoder()
    frames_bytes = encoder.encode(pcm) + encoder.flush()
    assert all(len(f) == 168 for f in frames_bytes)
    joined = b"".join(decode_frame(f).pcm() for f in frames_bytes)
    padded = pcm + bytes(-len(pcm) % 640)
    assert joined == adpcm.decode(adpcm.encode(padded)[0])[0]
