"""Checks of the earbud core that run ON MicroPython (unix port), which has no unittest or pytest.

Run: MICROPYPATH=hardware/firmware:tests/firmware:. micropython -X heapsize=512k tests/firmware/mp_checks.py OUTDIR
Prints one line per failure and finally `N passed, N failed`; writes the audio-up frames it produced to
OUTDIR/frames.bin (length-prefixed) so the pytest wrapper can compare them with CPython's encoder byte for byte.
Also runs unchanged on CPython (the wrapper does both, to prove the checks themselves agree).
"""
import gc
import sys
from array import array

from protocol import audio, control

from earbud.core import EarbudCore
from earbud_fakes import FakeHal

FRAME_TICKS = 60  # 1.2 s of mic audio


def _core(**kwargs):
    hal = FakeHal(**kwargs)
    core = EarbudCore(hal)
    core.connected()
    return hal, core


def _tick(hal, core, n=1):
    frames = []
    for _ in range(n):
        hal.mic_available = True
        hal.now += 20
        frames.extend(core.mic_tick())
    return frames


def _messages(core):
    out = []
    for value in core.take_notifications():
        out.extend(control.decode_messages(value))
    return out


def _pull(hal, core, n_blocks, block=320):
    """Pull n_blocks from the speaker; returns (blocks pulled, how many had a non-silent sample)."""
    audible = 0
    for _ in range(n_blocks):
        hal.now += 20
        if any(array("h", core.speaker_pull(block))):
            audible += 1
    return audible


def _heap_used():
    if hasattr(gc, "mem_alloc"):  # MicroPython
        return gc.mem_alloc()
    import tracemalloc  # CPython: the same question, asked of its allocator

    if not tracemalloc.is_tracing():
        tracemalloc.start()
    return tracemalloc.get_traced_memory()[0]


def _reply_frames(n_frames, amplitude=4000):
    """A reply of n_frames ADPCM frames (a 400 Hz square wave), the last one marked END. Encoded one frame at a
    time so the checks themselves allocate little (the heap check runs in a small heap)."""
    encoder = audio.FrameEncoder(audio.CODEC_ADPCM, 100)
    pcm = bytearray(640)
    frames = []
    for n in range(n_frames):
        for i in range(320):
            v = amplitude if ((n * 320 + i) // 20) % 2 else -amplitude
            pcm[2 * i] = v & 0xFF
            pcm[2 * i + 1] = (v >> 8) & 0xFF
        frames.extend(encoder.encode(pcm))
    return frames + encoder.flush()


# ---- checks ----------------------------------------------------------------------------------------


def check_frames_adpcm(outdir):
    hal, core = _core()
    core.set_streaming(True)
    frames = _tick(hal, core, FRAME_TICKS)
    assert len(frames) == FRAME_TICKS, len(frames)
    assert all(len(f) == 168 for f in frames)
    assert frames[0][1] & audio.FLAG_START and not frames[1][1] & audio.FLAG_START
    for i, frame in enumerate(frames):
        assert audio.decode_frame(frame).seq == i
    if outdir:
        with open(outdir + "/frames_adpcm.bin", "wb") as f:
            for frame in frames:
                f.write(bytes([len(frame)]))
                f.write(frame)


def check_frames_pcm16_after_set_codec(outdir):
    hal, core = _core()
    core.set_streaming(True)
    _tick(hal, core, 3)
    core.control_written(control.SetCodec(audio.CODEC_PCM16).encode())
    frames = _tick(hal, core, 5)
    assert len(frames) == 20 and all(len(f) == 164 for f in frames), [len(f) for f in frames]
    assert frames[0][0] == audio.CODEC_PCM16 and frames[0][1] & audio.FLAG_START
    if outdir:
        with open(outdir + "/frames_pcm16.bin", "wb") as f:
            for frame in frames:
                f.write(bytes([len(frame)]))
                f.write(frame)


def check_speaker_output(outdir):
    """A reply with a cue over it at volume 70: written out so the wrapper can compare MicroPython's viper
    loops with CPython's plain ones sample for sample."""
    hal, core = _core(state={"volume": 70})
    frames = _reply_frames(12)
    for frame in frames[:6]:
        core.audio_down_written(frame)
    core.control_written(control.PlayCue(control.CUE_WAKE).encode())
    f = open(outdir + "/speaker.bin", "wb") if outdir else None
    for i in range(16):
        if i == 3:
            for frame in frames[6:]:
                core.audio_down_written(frame)
        block = core.speaker_pull(320)
        assert len(block) == 640
        if f:
            f.write(block)
    if f:
        f.close()


def check_switch_quiet_stops_every_frame_and_the_mic():
    hal, core = _core()
    core.set_streaming(True)
    assert _tick(hal, core, 5) and hal.mic_on
    reads = hal.mic_reads
    core.switch_changed(True)
    assert not hal.mic_on, "mic still powered in quiet"
    assert _tick(hal, core, 50) == []
    assert hal.mic_reads == reads, "mic read in quiet"
    assert core.stats["quiet_frames_suppressed"] == 50
    assert core.quiet and core.quiet_source == control.QUIET_SOURCE_SWITCH
    # the host cannot lift quiet while the switch holds it
    core.control_written(control.SetQuiet(False, control.QUIET_SOURCE_HOST).encode())
    msgs = _messages(core)
    assert control.Error(control.ERR_QUIET_HELD_BY_SWITCH, 0x10) in msgs, msgs
    assert _tick(hal, core, 5) == [] and hal.mic_reads == reads
    core.switch_changed(False)
    frames = _tick(hal, core, 3)
    assert len(frames) == 3 and frames[0][1] & audio.FLAG_START


def check_host_quiet_stops_every_frame():
    hal, core = _core()
    core.set_streaming(True)
    _tick(hal, core, 2)
    core.control_written(control.SetQuiet(True, control.QUIET_SOURCE_VOICE).encode())
    reads = hal.mic_reads
    assert _tick(hal, core, 20) == [] and hal.mic_reads == reads and not hal.mic_on
    status = [m for m in _messages(core) if isinstance(m, control.Status)]
    assert status and status[-1].quiet and status[-1].quiet_source == control.QUIET_SOURCE_VOICE
    core.control_written(control.SetQuiet(False, control.QUIET_SOURCE_HOST).encode())
    assert len(_tick(hal, core, 2)) == 2


def check_speaker_underflow_counted_once_per_gap():
    hal, core = _core()
    frames = _reply_frames(10)
    for frame in frames[:5]:
        core.audio_down_written(frame)
    _pull(hal, core, 8)  # 5 frames in, 8 pulled: runs dry mid-reply
    assert core.stats["speaker_underruns"] == 1, core.stats
    for frame in frames[5:]:  # the rest, ending with END
        core.audio_down_written(frame)
    assert _pull(hal, core, 12) >= 5, "reply not played"
    assert core.stats["speaker_underruns"] == 1, core.stats  # END drained: no underrun
    speaker = [m for m in _messages(core) if isinstance(m, control.Speaker)]
    assert speaker[-1].buffered_ms == 0 and speaker[-1].underruns == 1, speaker


def check_speaker_overflow_counted():
    hal, core = _core()
    frames = _reply_frames(40)  # 800 ms into a 600 ms buffer
    for frame in frames:
        core.audio_down_written(frame)
    assert core.stats["speaker_overflows"] >= 10, core.stats
    assert core.speaker_buffered_ms == 600
    speaker = [m for m in _messages(core) if isinstance(m, control.Speaker)]
    assert speaker and speaker[-1].overflows == core.stats["speaker_overflows"], speaker
    assert _pull(hal, core, 40) == 30  # the 600 ms that fit play out, then silence
    assert core.speaker_buffered_ms == 0


def check_malformed_downlink_is_counted_not_raised():
    hal, core = _core()
    for bad in (b"", b"\x01", b"\x09\x00\x00\x00" + bytes(164), b"\x01\x00\x00\x00\x00\x00\x99\x00" + bytes(160)):
        core.audio_down_written(bad)
    assert core.stats["audio_frames_malformed"] == 4, core.stats
    assert len(core.speaker_pull(320)) == 640


def check_passkey_spoken_as_digits():
    clips = {}
    for d in range(10):
        clips["digit_%d" % d] = bytes([0, d + 1]) * 400  # sample value 256 * (d + 1), 25 ms per digit
    hal, core = _core(clips=clips, state={"volume": 100})
    core.speak_passkey(40213)  # -> 0 4 0 2 1 3
    heard = []
    previous = 0
    for _ in range(100):
        for value in array("h", core.speaker_pull(320)):
            if value and value != previous:
                heard.append(value // 256 - 1)
            previous = value
    assert heard == [0, 4, 0, 2, 1, 3], heard


def check_persisted_quiet_and_volume_survive_reboot():
    hal, core = _core()
    core.control_written(control.encode_messages([control.SetVolume(35),
                                                  control.SetQuiet(True, control.QUIET_SOURCE_HOST)]))
    saved = hal.state
    core = None  # the old core's 19 KB speaker ring goes before the "rebooted" one is built, as on a device
    gc.collect()
    rebooted = EarbudCore(FakeHal(state=saved))
    assert rebooted.quiet and rebooted.quiet_source == control.QUIET_SOURCE_HOST and rebooted.volume == 35


def check_memory_stays_flat():
    hal, core = _core()
    core.set_streaming(True)
    frames = _reply_frames(30)
    # warm up every path once, then measure what a long full-duplex run keeps
    for i in range(30):
        _tick(hal, core)
        core.audio_down_written(frames[i])
        core.speaker_pull(320)
        core.take_notifications()
    gc.collect()
    before = _heap_used()
    for lap in range(10):
        for i in range(30):
            _tick(hal, core)
            core.audio_down_written(frames[i])
            core.speaker_pull(320)
            core.control_written(control.Ping(i).encode())
            core.take_notifications()
            if i % 10 == 0:
                core.housekeeping()
    gc.collect()
    grown = _heap_used() - before
    assert grown < 2048, "heap grew by %d bytes over 300 ticks" % grown


CHECKS = (
    check_frames_adpcm,
    check_frames_pcm16_after_set_codec,
    check_speaker_output,
    check_switch_quiet_stops_every_frame_and_the_mic,
    check_host_quiet_stops_every_frame,
    check_speaker_underflow_counted_once_per_gap,
    check_speaker_overflow_counted,
    check_malformed_downlink_is_counted_not_raised,
    check_passkey_spoken_as_digits,
    check_persisted_quiet_and_volume_survive_reboot,
    check_memory_stays_flat,
)


def main(argv):
    """argv: [program, OUTDIR or "-", check names...]; no names = every check."""
    outdir = argv[1] if len(argv) > 1 and argv[1] != "-" else None
    names = argv[2:]
    passed = failed = 0
    for check in CHECKS:
        if names and check.__name__ not in names:
            continue
        try:
            if check.__name__.startswith("check_frames") or check.__name__ == "check_speaker_output":
                check(outdir)
            else:
                check()
            passed += 1
        except Exception as error:  # report every check, not just the first failure
            failed += 1
            print("FAIL %s: %s %r" % (check.__name__, type(error).__name__, error))
        gc.collect()
    print("%d passed, %d failed" % (passed, failed))
    return failed


if __name__ == "__main__":
    sys.exit(1 if main(sys.argv) else 0)
