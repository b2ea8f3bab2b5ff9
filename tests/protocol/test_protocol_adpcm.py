"""IMA-ADPCM: byte-identical to CPython's audioop (both our implementations), state carry, bounds, quality.

audioop's answers come from adpcm_golden.json (recorded with CPython 3.11; audioop is gone from 3.13)."""
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol import adpcm
from protocol.errors import BAD_FIELD, ProtocolError

import adpcm_reference as reference
from protocol_signals import snr_db, speech_pcm

GOLDEN = reference.GOLDEN

states = st.one_of(st.none(), st.tuples(st.integers(-32768, 32767), st.integers(0, 88)))


def _native_encode(pcm, state):
    """The MicroPython (viper) implementation, run as plain Python on CPython."""
    return adpcm._encode_micropython(pcm, *adpcm.check_state(state))


def _native_decode(data, state):
    return adpcm._decode_micropython(data, *adpcm.check_state(state))


ENCODERS = [pytest.param(adpcm.encode, id="public"), pytest.param(_native_encode, id="micropython-path")]
DECODERS = [pytest.param(adpcm.decode, id="public"), pytest.param(_native_decode, id="micropython-path")]


def test_the_reference_inputs_are_the_ones_audioop_was_asked_about():
    """Guards the golden file: had the integer signal generator changed, every comparison below would be moot."""
    assert reference.digest(reference.reference_signal()) == GOLDEN["signal_digest"]
    assert len(reference.encode_cases()) == len(GOLDEN["encode_cases"]) == reference.CASES
    assert len(reference.decode_cases()) == len(GOLDEN["decode_cases"]) == reference.CASES


@pytest.mark.parametrize("encode", ENCODERS)
def test_encode_matches_audioop_on_the_reference_signal_in_one_call(encode):
    codes, state = encode(reference.reference_signal(), None)
    expected = GOLDEN["whole_signal"]
    assert (reference.digest(codes), list(state)) == (expected["codes"], expected["encode_state"])


@pytest.mark.parametrize("decode", DECODERS)
def test_decode_matches_audioop_on_the_reference_signal_in_one_call(decode):
    codes, _ = adpcm.encode(reference.reference_signal())
    pcm, state = decode(codes, None)
    expected = GOLDEN["whole_signal"]
    assert (reference.digest(pcm), list(state)) == (expected["pcm"], expected["decode_state"])


@pytest.mark.parametrize("encode", ENCODERS)
@pytest.mark.parametrize("decode", DECODERS)
def test_state_carries_across_20ms_frames_exactly_like_audioop(encode, decode):
    pcm = reference.reference_signal()
    frames = GOLDEN["frames_640"]
    assert len(frames) * reference.FRAME_BYTES == len(pcm)
    ours_state = ours_dec_state = None
    for number, (codes_digest, state, pcm_digest, dec_state) in enumerate(frames):
        start = number * reference.FRAME_BYTES
        ours, ours_state = encode(pcm[start:start + reference.FRAME_BYTES], ours_state)
        assert (reference.digest(ours), list(ours_state)) == (codes_digest, state), "frame %d" % number
        decoded, ours_dec_state = decode(ours, ours_dec_state)
        assert (reference.digest(decoded), list(ours_dec_state)) == (pcm_digest, dec_state), "frame %d" % number


def test_decoding_from_a_recorded_state_equals_the_continuous_decode():
    """What makes every frame self-contained: the header's state lets a decoder join at any frame."""
    pcm = reference.reference_signal()
    codes, _ = adpcm.encode(pcm)
    continuous, _ = adpcm.decode(codes)
    state = None
    for start in range(0, len(codes), 160):
        if start == 480:
            joined, _ = adpcm.decode(codes[start:], state)
            assert joined == continuous[start * 4:]
            break
        _, state = adpcm.decode(codes[start:start + 160], state)


@pytest.mark.parametrize("encode", ENCODERS)
def test_encode_equals_audioop_on_random_samples_from_random_states(encode):
    cases = zip(reference.encode_cases(), GOLDEN["encode_cases"])
    for number, ((pcm, state), (codes_digest, end_state)) in enumerate(cases):
        codes, ours_state = encode(pcm, reference.as_state(state))
        assert (reference.digest(codes), list(ours_state)) == (codes_digest, end_state), "case %d" % number


@pytest.mark.parametrize("decode", DECODERS)
def test_decode_equals_audioop_on_random_codes_from_random_states(decode):
    cases = zip(reference.decode_cases(), GOLDEN["decode_cases"])
    for number, ((data, state), (pcm_digest, end_state)) in enumerate(cases):
        pcm, ours_state = decode(data, reference.as_state(state))
        assert (reference.digest(pcm), list(ours_state)) == (pcm_digest, end_state), "case %d" % number


@settings(max_examples=150, deadline=None)
@given(samples=st.lists(st.integers(-32768, 32767), max_size=400), state=states)
def test_both_encoders_agree_for_any_samples_and_state(samples, state):
    pcm = struct.pack("<%dh" % len(samples), *samples)
    assert adpcm.encode(pcm, state) == _native_encode(pcm, state)


@settings(max_examples=150, deadline=None)
@given(data=st.binary(max_size=200), state=states)
def test_both_decoders_agree_for_any_codes_and_state(data, state):
    assert adpcm.decode(data, state) == _native_decode(data, state)


def test_odd_sample_count_advances_state_but_drops_the_last_nibble_like_audioop():
    pcm = struct.pack("<3h", 1000, -2000, 3000)
    codes, state = adpcm.encode(pcm, None)
    expected = GOLDEN["odd_samples_1000_-2000_3000"]
    assert (codes.hex(), list(state)) == (expected["codes_hex"], expected["state"])
    assert len(codes) == 1


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
