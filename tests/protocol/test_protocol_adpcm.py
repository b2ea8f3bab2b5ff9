"""IMA-ADPCM: byte-identical to CPython's audioop (both our implementations), state carry, bounds, quality."""
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol import adpcm
from protocol.errors import BAD_FIELD, ProtocolError
from protocol_signals import chirp_noise_silence, import_audioop, snr_db, speech_pcm

audioop = import_audioop()

states = st.one_of(st.none(), st.tuples(st.integers(-32768, 32767), st.integers(0, 88)))


def _native_encode(pcm, state):
    """The MicroPython (viper) implementation, run as plain Python on CPython."""
    return adpcm._encode_micropython(pcm, *adpcm.check_state(state))


def _native_decode(data, state):
    return adpcm._decode_micropython(data, *adpcm.check_state(state))


ENCODERS = [pytest.param(adpcm.encode, id="public"), pytest.param(_native_encode, id="micropython-path")]
DECODERS = [pytest.param(adpcm.decode, id="public"), pytest.param(_native_decode, id="micropython-path")]


@pytest.mark.parametrize("encode", ENCODERS)
def test_encode_matches_audioop_on_chirp_noise_silence_in_one_call(encode):
    pcm = chirp_noise_silence()
    assert encode(pcm, None) == audioop.lin2adpcm(pcm, 2, None)


@pytest.mark.parametrize("decode", DECODERS)
def test_decode_matches_audioop_on_chirp_noise_silence_in_one_call(decode):
    codes, _ = audioop.lin2adpcm(chirp_noise_silence(), 2, None)
    assert decode(codes, None) == audioop.adpcm2lin(codes, 2, None)


@pytest.mark.parametrize("encode", ENCODERS)
@pytest.mark.parametrize("decode", DECODERS)
def test_state_carries_across_20ms_frames_exactly_like_audioop(encode, decode):
    pcm = chirp_noise_silence()
    frame = 640
    ours_state = ref_state = None
    ours_dec_state = ref_dec_state = None
    for start in range(0, len(pcm), frame):
        chunk = pcm[start:start + frame]
        ours, ours_state = encode(chunk, ours_state)
        ref, ref_state = audioop.lin2adpcm(chunk, 2, ref_state)
        assert (ours, ours_state) == (ref, ref_state), "frame at byte %d" % start
        decoded, ours_dec_state = decode(ours, ours_dec_state)
        ref_decoded, ref_dec_state = audioop.adpcm2lin(ref, 2, ref_dec_state)
        assert (decoded, ours_dec_state) == (ref_decoded, ref_dec_state), "frame at byte %d" % start


def test_decoding_from_a_recorded_state_equals_the_continuous_decode():
    """What makes every frame self-contained: the header's state lets a decoder join at any frame."""
    pcm = chirp_noise_silence()
    codes, _ = adpcm.encode(pcm)
    continuous, _ = adpcm.decode(codes)
    state = None
    for start in range(0, len(codes), 160):
        if start == 480:
            joined, _ = adpcm.decode(codes[start:], state)
            assert joined == continuous[start * 4:]
            break
        _, state = adpcm.decode(codes[start:start + 160], state)


@settings(max_examples=150, deadline=None)
@given(samples=st.lists(st.integers(-32768, 32767), max_size=400), state=states)
def test_encode_equals_audioop_for_any_samples_and_state(samples, state):
    pcm = struct.pack("<%dh" % len(samples), *samples)
    expected = audioop.lin2adpcm(pcm, 2, state)
    assert adpcm.encode(pcm, state) == expected
    assert _native_encode(pcm, state) == expected


@settings(max_examples=150, deadline=None)
@given(data=st.binary(max_size=200), state=states)
def test_decode_equals_audioop_for_any_codes_and_state(data, state):
    expected = audioop.adpcm2lin(data, 2, state)
    assert adpcm.decode(data, state) == expected
    assert _native_decode(data, state) == expected


def test_odd_sample_count_advances_state_but_drops_the_last_nibble_like_audioop():
    pcm = struct.pack("<3h", 1000, -2000, 3000)
    codes, state = adpcm.encode(pcm, None)
    assert len(codes) == 1
    assert (codes, state) == audioop.lin2adpcm(pcm, 2, None)


@pytest.mark.parametrize("state", [(0, 89), (0, -1), (32768, 0), (-32769, 3), (1,), "ab", (0.5, 1), 7])
def test_bad_state_raises_protocol_error(state):
    with pytest.raises(ProtocolError) as error:
        adpcm.encode(b"\x00\x00", state)
    assert error.value.code == BAD_FIELD
    with pytest.raises(ProtocolError):
        adpcm.decode(b"\x00", state)


@pytest.mark.parametrize("data", ["text", None, [1, 2], 5])
def test_non_bytes_are_refused(data):
    for function in (adpcm.encode, adpcm.decode):
        with pytest.raises(ProtocolError) as error:
            function(data)
        assert error.value.code == BAD_FIELD


def test_pcm_with_half_a_sample_is_refused():
    with pytest.raises(ProtocolError) as error:
        adpcm.encode(b"\x00\x00\x00")
    assert error.value.code == BAD_FIELD


def test_input_above_the_per_call_bound_is_refused():
    with pytest.raises(ProtocolError):
        adpcm.encode(bytes(adpcm.MAX_PCM_BYTES + 2))
    with pytest.raises(ProtocolError):
        adpcm.decode(bytes(adpcm.MAX_ADPCM_BYTES + 1))


def test_speech_snr_is_at_least_20_db():
    pcm = speech_pcm()
    assert len(pcm) > 32000, "espeak-ng should have produced more than a second of speech"
    codes, _ = adpcm.encode(pcm)
    decoded, _ = adpcm.decode(codes)
    assert len(decoded) == len(pcm)
    assert snr_db(pcm, decoded) >= 20.0
