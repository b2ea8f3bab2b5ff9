"""AudioReceiver: the README's receive table, concealment, reordering, and a timeline that never shifts."""
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.audio import CODEC_ADPCM, CODEC_PCM16, FLAG_START, AudioFrame, FrameEncoder, decode_frame
from protocol.errors import ProtocolError
from protocol.receiver import STAT_KEYS, AudioReceiver, _half_amplitude


def pcm16_frame(seq, value, flags=0):
    """A PCM16 frame whose 80 samples all equal `value`, so output can be traced back to its frame."""
    return AudioFrame(CODEC_PCM16, seq % 65536, flags, struct.pack("<80h", *([value] * 80))).encode()


def values_of(pcm):
    """The per-frame sample values in a PCM16 output made of constant frames (80 samples each)."""
    samples = struct.unpack("<%dh" % (len(pcm) // 2), pcm)
    assert len(samples) % 80 == 0
    out = []
    for i in range(0, len(samples), 80):
        chunk = samples[i:i + 80]
        assert len(set(chunk)) == 1
        out.append(chunk[0])
    return out


def run(receiver, frames):
    out = b"".join(receiver.receive(f) for f in frames) + receiver.flush()
    return values_of(out)


def stats(receiver, **expected):
    full = dict.fromkeys(STAT_KEYS, 0)
    full.update(expected)
    return receiver.stats == full


def test_in_order_stream_passes_through():
    receiver = AudioReceiver()
    assert run(receiver, [pcm16_frame(s, 100 + s, FLAG_START if s == 0 else 0) for s in range(5)]) == [
        100, 101, 102, 103, 104]
    assert stats(receiver, streams=1, received=5)
    assert receiver.expected == 5


def test_gap_is_concealed_half_amplitude_then_silence():
    receiver = AudioReceiver()
    assert run(receiver, [pcm16_frame(0, 1000, FLAG_START), pcm16_frame(4, 7)]) == [1000, 500, 0, 0, 7]
    assert stats(receiver, streams=1, received=2, lost=3)


def test_half_amplitude_rounds_like_an_arithmetic_shift():
    assert _half_amplitude(struct.pack("<5h", -32768, -1, 1, 3, 32767)) == struct.pack(
        "<5h", -16384, -1, 0, 1, 16383)


def test_concealed_frames_are_as_long_as_the_last_frame_received():
    receiver = AudioReceiver()
    encoder = FrameEncoder(CODEC_ADPCM)
    frames = encoder.encode(bytes(640 * 3))
    out = receiver.receive(frames[0]) + receiver.receive(frames[2])
    assert len(out) == 640 * 3
    receiver.receive(pcm16_frame(3, 0))
    assert len(receiver.receive(pcm16_frame(5, 0))) == 160 * 2


def test_duplicates_are_dropped_and_counted():
    receiver = AudioReceiver()
    first = pcm16_frame(0, 1, FLAG_START)
    assert run(receiver, [first, first, pcm16_frame(1, 2), pcm16_frame(1, 2), pcm16_frame(0, 1, FLAG_START)]) == [
        1, 2]
    assert stats(receiver, streams=1, received=2, duplicates=3)


def test_frame_arriving_after_its_concealment_is_late_and_never_shifts_the_timeline():
    receiver = AudioReceiver()
    out = run(receiver, [pcm16_frame(0, 10, FLAG_START), pcm16_frame(2, 30), pcm16_frame(1, 20), pcm16_frame(3, 40)])
    assert out == [10, 5, 30, 40]
    assert stats(receiver, streams=1, received=3, lost=1, late=1)


def test_sequence_wraps_from_65535_to_0():
    receiver = AudioReceiver()
    out = run(receiver, [pcm16_frame(65534, 1, FLAG_START), pcm16_frame(65535, 2), pcm16_frame(0, 3),
                         pcm16_frame(2, 5)])
    assert out == [1, 2, 3, 1, 5]
    assert stats(receiver, streams=1, received=4, lost=1)


def test_jump_beyond_max_gap_resyncs_without_concealment():
    receiver = AudioReceiver(max_gap=10)
    out = run(receiver, [pcm16_frame(0, 1, FLAG_START), pcm16_frame(11, 2), pcm16_frame(23, 3)])
    assert out == [1, 0] + [0] * 9 + [2, 3]  # a gap of exactly max_gap is still concealed; 1 >> 1 == 0
    assert stats(receiver, streams=1, received=3, lost=21, resyncs=1)


def test_start_resets_the_stream_anywhere():
    receiver = AudioReceiver()
    out = run(receiver, [pcm16_frame(100, 1, FLAG_START), pcm16_frame(101, 2), pcm16_frame(7, 3, FLAG_START),
                         pcm16_frame(8, 4), pcm16_frame(5, 9)])
    assert out == [1, 2, 3, 4]
    assert stats(receiver, streams=2, received=4, late=1)


def test_first_frame_without_start_opens_a_stream():
    receiver = AudioReceiver()
    assert run(receiver, [pcm16_frame(40000, 1), pcm16_frame(40001, 2)]) == [1, 2]
    assert stats(receiver, streams=1, received=2)


def test_malformed_frames_are_counted_and_the_stream_continues():
    receiver = AudioReceiver()
    bad = [b"", b"\x09" * 164, pcm16_frame(1, 2)[:-1], bytes([1, 0, 1, 0, 0, 0, 200, 0]) + bytes(160)]
    out = b"".join(receiver.receive(f) for f in [pcm16_frame(0, 1, FLAG_START)] + bad + [pcm16_frame(1, 2)])
    assert values_of(out) == [1, 2]
    assert stats(receiver, streams=1, received=2, malformed=4)


def test_reorder_window_puts_swapped_frames_back_in_order():
    receiver = AudioReceiver(reorder_window=2)
    frames = [pcm16_frame(s, s + 1, FLAG_START if s == 0 else 0) for s in range(6)]
    outputs = [receiver.receive(f) for f in [frames[0], frames[2], frames[1], frames[4], frames[3], frames[5]]]
    assert [values_of(o) for o in outputs] == [[1], [], [2, 3], [], [4, 5], [6]]
    assert stats(receiver, streams=1, received=6, reordered=2)


def test_reorder_window_gives_up_when_full_and_conceals_the_missing_frame():
    receiver = AudioReceiver(reorder_window=2)
    frames = [pcm16_frame(s, 100 * (s + 1), FLAG_START if s == 0 else 0) for s in range(6)]
    out = run(receiver, [frames[0], frames[2], frames[3], frames[4], frames[1], frames[5]])
    assert out == [100, 50, 300, 400, 500, 600]
    assert stats(receiver, streams=1, received=5, lost=1, late=1)


def test_flush_releases_what_the_window_holds():
    receiver = AudioReceiver(reorder_window=4)
    receiver.receive(pcm16_frame(0, 8, FLAG_START))
    assert receiver.receive(pcm16_frame(2, 6)) == b""
    assert values_of(receiver.flush()) == [4, 6]
    assert receiver.flush() == b""


def test_duplicate_of_a_held_frame_is_counted_once():
    receiver = AudioReceiver(reorder_window=4)
    assert run(receiver, [pcm16_frame(0, 1, FLAG_START), pcm16_frame(2, 3), pcm16_frame(2, 3),
                          pcm16_frame(1, 2)]) == [1, 2, 3]
    assert stats(receiver, streams=1, received=3, duplicates=1, reordered=1)


def test_start_releases_the_held_frames_of_the_old_stream_first():
    receiver = AudioReceiver(reorder_window=4)
    out = run(receiver, [pcm16_frame(0, 2, FLAG_START), pcm16_frame(2, 6), pcm16_frame(500, 9, FLAG_START)])
    assert out == [2, 1, 6, 9]
    assert stats(receiver, streams=2, received=3, lost=1)


def test_resync_with_held_frames_plays_them_then_judges_the_frame_again():
    receiver = AudioReceiver(max_gap=5, reorder_window=3)
    out = run(receiver, [pcm16_frame(0, 2, FLAG_START), pcm16_frame(2, 6), pcm16_frame(7, 8)])
    assert out == [2, 1, 6, 3, 0, 0, 0, 8]  # after frame 2, frame 7 is within max_gap: concealed, no resync
    assert stats(receiver, streams=1, received=3, lost=5)


def test_reset_forgets_the_stream_but_keeps_the_counts_and_settings():
    receiver = AudioReceiver(reorder_window=2)
    counts = receiver.stats
    receiver.receive(pcm16_frame(0, 100, FLAG_START))
    assert receiver.receive(pcm16_frame(2, 6)) == b""  # held back by the window
    receiver.reset()
    assert receiver.expected is None
    # No concealment of frame 100 and no held frame 6: frame 5 opens a stream as a first frame would.
    assert values_of(receiver.receive(pcm16_frame(5, 7))) == [7]
    assert receiver.receive(pcm16_frame(7, 9)) == b""  # the window is still 2 frames
    assert values_of(receiver.flush()) == [3, 9]
    assert receiver.stats is counts and stats(receiver, streams=2, received=3, lost=1)


def test_adpcm_frames_decode_to_the_encoders_stream():
    encoder = FrameEncoder()
    pcm = struct.pack("<1600h", *[(i * 97) % 4001 - 2000 for i in range(1600)])
    frames = encoder.encode(pcm) + encoder.flush()
    receiver = AudioReceiver()
    out = b"".join(receiver.receive(f) for f in frames)
    assert out == b"".join(decode_frame(f).pcm() for f in frames)
    assert stats(receiver, streams=1, received=6)


def test_bad_settings_are_refused():
    for kwargs in ({"max_gap": -1}, {"max_gap": 32768}, {"reorder_window": 65}, {"reorder_window": -1}):
        with pytest.raises(ProtocolError):
            AudioReceiver(**kwargs)


def frame_value(seq):
    """Odd and >= 20001: never 0 and never half of another frame's value, so concealment cannot pass for a frame."""
    return 20001 + 2 * (seq % 6000)


@settings(max_examples=300, deadline=None)
@given(
    start=st.integers(0, 65535),
    events=st.lists(st.tuples(st.sampled_from(["send", "drop", "dup", "swap", "junk"]), st.binary(max_size=5)),
                    max_size=60),
    window=st.integers(0, 3),
)
def test_output_timeline_is_one_frame_per_sequence_number(start, events, window):
    """Whatever the link does (loss, duplication, swaps, garbage), the output holds exactly one frame of audio
    for every sequence number from the first frame played to the last, in order: nothing shifts."""
    receiver = AudioReceiver(reorder_window=window)
    wire = []
    for offset, (action, junk) in enumerate(events):
        frame = pcm16_frame(start + offset, frame_value(start + offset))
        if action == "send":
            wire.append(frame)
        elif action == "dup":
            wire += [frame, frame]
        elif action == "swap" and wire:
            wire.insert(len(wire) - 1, frame)
        elif action == "junk":
            wire += [junk, frame]
    out = b"".join(receiver.receive(f) for f in wire) + receiver.flush()
    played = values_of(out)
    s = receiver.stats
    assert len(played) == s["received"] + s["lost"]
    assert s["malformed"] == sum(1 for f in wire if len(f) != 164)
    assert s["received"] + s["duplicates"] + s["late"] + s["malformed"] == len(wire)
    assert s["received"] == sum(1 for value in played if value >= 20001)
    if not played:
        assert not any(len(f) == 164 for f in wire)
        return
    first_seq = (played[0] - 20001) // 2
    for position, value in enumerate(played):
        if value >= 20001:
            assert value == frame_value(first_seq + position), "frame out of place at %d" % position
        else:
            assert position > 0
            previous = played[position - 1]
            # The first concealed frame after a real one is that frame at half amplitude, later ones silence.
            assert value == (previous >> 1 if previous >= 20001 else 0)
