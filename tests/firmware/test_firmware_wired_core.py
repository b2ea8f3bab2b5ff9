"""WiredCore, the in-process way to drive the real earbud core from other tests (e.g. tests/quiet)."""
from protocol import audio, control
from tests.firmware.wired_core import WiredCore


def _statuses(messages):
    return [m for m in messages if isinstance(m, control.Status)]


def test_host_quiet_stops_frames_and_is_reported_then_listening_resumes_with_a_new_stream():
    bud = WiredCore()
    assert len(bud.tick(3)) == 3 and bud.messages() == []
    bud.write(control.SetQuiet(True, control.QUIET_SOURCE_HOST).encode())
    [status] = _statuses(bud.messages())
    assert status.quiet and status.quiet_source == control.QUIET_SOURCE_HOST
    assert bud.tick(5) == [] and not bud.hal.mic_on
    bud.write(control.SetQuiet(False, control.QUIET_SOURCE_HOST).encode())
    assert not _statuses(bud.messages())[0].quiet
    frames = [audio.decode_frame(f) for f in bud.tick(2)]
    assert len(frames) == 2 and frames[0].start


def test_the_switch_holds_quiet_against_the_host():
    bud = WiredCore(switch=True)
    assert bud.core.quiet and bud.tick(2) == []
    bud.write(control.SetQuiet(False, control.QUIET_SOURCE_HOST).encode())
    assert bud.messages() == [control.Error(control.ERR_QUIET_HELD_BY_SWITCH, control.TYPE_SET_QUIET)]
    bud.move_switch(False)
    assert _statuses(bud.messages())[0].quiet is False and len(bud.tick(1)) == 1


def test_reply_audio_written_down_reaches_the_speaker():
    bud = WiredCore()
    encoder = audio.FrameEncoder(audio.CODEC_ADPCM)
    tone = bytes([0x00, 0x20, 0x00, 0xE0] * 160 * 10)  # 200 ms of a loud square wave
    for frame in encoder.encode(tone) + encoder.flush():
        bud.core.audio_down_written(frame)
    bud.tick(20)
    assert any(bud.speaker)
    assert any(isinstance(m, control.Speaker) for m in bud.messages())
