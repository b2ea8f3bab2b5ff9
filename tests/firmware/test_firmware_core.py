"""The earbud core's behaviour on CPython (the simulator runs this very code), with a fake board."""
from array import array

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mp_checks
from earbud.core import PAIRING_TIMEOUT_MS, EarbudCore, ticks_diff
from earbud.hal import Hal
from earbud.sounds import digit_tone_hz, passkey_digits
from earbud_fakes import FakeHal, ramp_pcm
from protocol import audio, control
from protocol.gatt import MAX_ATT_PAYLOAD


def make(**kwargs):
    hal = FakeHal(**kwargs)
    core = EarbudCore(hal)
    core.connected()
    return hal, core


def messages(core):
    out = []
    for value in core.take_notifications():
        assert len(value) <= MAX_ATT_PAYLOAD
        out.extend(control.decode_messages(value))
    return out


def of_type(msgs, cls):
    return [m for m in msgs if isinstance(m, cls)]


def tick(hal, core, n=1):
    frames = []
    for _ in range(n):
        hal.mic_available = True
        hal.now += 20
        frames.extend(core.mic_tick())
    return frames


def pull(hal, core, n_blocks, block=320):
    out = []
    for _ in range(n_blocks):
        hal.now += 20
        data = core.speaker_pull(block)
        assert len(data) == 2 * block
        out.append(np.frombuffer(data, dtype="<i2"))
    return np.concatenate(out)


def reply(n_frames, amplitude=8000, seq=0):
    encoder = audio.FrameEncoder(audio.CODEC_ADPCM, seq)
    t = np.arange(320 * n_frames)
    pcm = (amplitude * np.sin(2 * np.pi * 500 * t / 16000)).astype("<i2").tobytes()
    return encoder.encode(pcm) + encoder.flush()


def test_the_micropython_checks_also_pass_on_cpython(tmp_path, capsys):
    assert mp_checks.main(["mp_checks", str(tmp_path)]) == 0
    assert capsys.readouterr().out.strip().endswith("%d passed, 0 failed" % len(mp_checks.CHECKS))


def test_hal_base_class_names_every_method():
    for name in ("mic_start", "mic_stop", "mic_read", "quiet_switch", "battery_percent", "charging", "led",
                 "ticks_ms", "load_state", "save_state", "clip"):
        assert callable(getattr(Hal, name)) and getattr(Hal, name).__doc__


# ---- control ---------------------------------------------------------------------------------------


def test_hello_is_answered_with_earbud_hello_and_status():
    _, core = make()
    core.control_written(control.Hello(1, control.CODECS_MASK_ADPCM, "host 0.1").encode())
    msgs = messages(core)
    assert msgs[0] == control.EarbudHello(1, control.CODECS_MASK_ADPCM | control.CODECS_MASK_PCM16, "0.1.0")
    assert isinstance(msgs[1], control.Status) and msgs[1].firmware == "0.1.0"


def test_ping_get_status_and_several_messages_in_one_write():
    _, core = make()
    core.control_written(control.encode_messages([control.Ping(0xDEADBEEF), control.GetStatus()]))
    msgs = messages(core)
    assert msgs[0] == control.Pong(0xDEADBEEF)
    assert msgs[1] == control.decode_messages(core.status_value())[0]
    assert core.stats["control_messages"] == 2


@pytest.mark.parametrize("data, code, about", [
    (b"\x15\x02\x01\x02", control.ERR_MALFORMED, 0x15),  # PING with a 2-byte token
    (b"\x11\x01\x65", control.ERR_MALFORMED, 0x11),  # volume 101
    (b"\x7e\x00", control.ERR_UNSUPPORTED, 0x7E),  # unknown type
    (b"\x85\x04\x01\x00\x00\x00", control.ERR_UNSUPPORTED, 0x85),  # an earbud->host message written to us
    (b"\x10", control.ERR_MALFORMED, 0x10),  # truncated header
])
def test_bad_control_writes_are_answered_with_error(data, code, about):
    _, core = make()
    core.control_written(data)
    assert of_type(messages(core), control.Error) == [control.Error(code, about)]
    assert core.stats["control_errors"] == 1


def test_a_bad_message_does_not_cancel_the_good_ones_before_it():
    _, core = make()
    core.control_written(control.Ping(5).encode() + b"\x11\x01\xff")
    assert messages(core) == [control.Pong(5), control.Error(control.ERR_MALFORMED, 0x11)]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=244))
def test_control_written_never_raises(data):
    _, core = make()
    core.control_written(data)
    messages(core)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_audio_down_written_never_raises(data):
    hal, core = make()
    core.audio_down_written(data)
    assert len(core.speaker_pull(320)) == 640


def test_notifications_are_packed_into_att_payloads():
    _, core = make()
    status_bytes = len(core.status_value())
    for _ in range(30):
        core.control_written(control.GetStatus().encode())
    values = core.take_notifications()
    per_value = MAX_ATT_PAYLOAD // status_bytes
    assert [len(v) for v in values[:-1]] == [per_value * status_bytes] * (len(values) - 1)
    assert sum(len(v) for v in values) == 30 * status_bytes
    assert core.take_notifications() == []


def test_a_stalled_link_drops_oldest_notifications_and_counts_them():
    _, core = make()
    for token in range(100):
        core.control_written(control.Ping(token).encode())
    msgs = messages(core)
    assert len(msgs) == 32 and msgs[-1] == control.Pong(99)
    assert core.stats["notifications_dropped"] == 68


def test_nothing_is_queued_while_disconnected():
    hal, core = make()
    core.disconnected()
    core.button(control.BUTTON_PRESS)
    core.switch_changed(True)
    assert core.take_notifications() == []


# ---- quiet -------------------------------------------------------------------------------------------


def test_switch_at_boot_holds_quiet_even_if_state_said_otherwise():
    hal = FakeHal(switch=True, state={"quiet": False, "volume": 50})
    core = EarbudCore(hal)
    assert core.quiet and core.quiet_source == control.QUIET_SOURCE_SWITCH
    assert hal.led_modes[-1] == "quiet"


def test_switch_moved_while_off_releases_switch_quiet():
    core = EarbudCore(FakeHal(state={"quiet": True, "quiet_source": control.QUIET_SOURCE_SWITCH}))
    assert not core.quiet


def test_corrupt_state_falls_back_to_defaults():
    core = EarbudCore(FakeHal(state={"quiet": "yes", "volume": 900, "quiet_source": 7}))
    assert not core.quiet and core.volume == 80


def test_quiet_changes_send_status_and_play_a_cue_for_the_switch():
    hal, core = make()
    core.switch_changed(True)
    status = of_type(messages(core), control.Status)
    assert len(status) == 1 and status[0].quiet and status[0].quiet_source == control.QUIET_SOURCE_SWITCH
    assert np.abs(pull(hal, core, 10)).max() > 1000  # the QUIET_ON cue
    core.switch_changed(False)
    assert not core.quiet
    assert of_type(messages(core), control.Status)[0].quiet is False


def test_quiet_drops_the_partial_frame_captured_before_it():
    hal, core = make()
    core.set_streaming(True)
    core._encoder.encode(bytes([0x55, 0x11]) * 100)  # as if the mic had handed out a partial block before quiet
    core.switch_changed(True)
    core.switch_changed(False)
    position = hal.mic_position
    frame = audio.decode_frame(tick(hal, core, 1)[0])
    assert frame.start
    assert frame.pcm() == audio.AudioFrame(1, 0, 0, audio.FrameEncoder().encode(ramp_pcm(320, position))[0][8:]).pcm()


def test_set_quiet_on_while_switch_holds_keeps_switch_as_source():
    _, core = make(switch=True)
    core.control_written(control.SetQuiet(True, control.QUIET_SOURCE_HOST).encode())
    assert core.quiet_source == control.QUIET_SOURCE_SWITCH


def test_mic_runs_only_while_connected_streaming_and_not_quiet():
    hal, core = make()
    assert not hal.mic_on
    core.set_streaming(True)
    assert hal.mic_on and hal.led_modes[-1] == "listening"
    core.set_streaming(False)
    assert not hal.mic_on and tick(hal, core) == []
    core.set_streaming(True)
    core.disconnected()
    assert not hal.mic_on and hal.led_modes[-1] == "idle"


def test_mic_not_ready_yields_no_frames():
    hal, core = make()
    core.set_streaming(True)
    hal.now += 20
    hal.mic_available = False
    assert core.mic_tick() == []


# ---- volume, codec, speaker ------------------------------------------------------------------------


def test_volume_scales_the_speaker_and_persists():
    loud_hal, loud = make(state={"volume": 100})
    soft_hal, soft = make(state={"volume": 100})
    soft.control_written(control.SetVolume(25).encode())
    assert soft_hal.state["volume"] == 25
    assert of_type(messages(soft), control.Status)[0].volume == 25
    for frame in reply(10):
        loud.audio_down_written(frame)
        soft.audio_down_written(frame)
    a = pull(loud_hal, loud, 12).astype(float)
    b = pull(soft_hal, soft, 12).astype(float)
    ratio = np.sqrt(np.mean(b ** 2) / np.mean(a ** 2))
    assert 0.23 < ratio < 0.27


def test_reply_is_played_after_a_60ms_prebuffer_and_matches_the_decoded_audio():
    hal, core = make(state={"volume": 100})
    frames = reply(10)
    core.audio_down_written(frames[0])
    core.audio_down_written(frames[1])
    assert not pull(hal, core, 1).any()  # 40 ms buffered: still waiting
    core.audio_down_written(frames[2])
    played = pull(hal, core, 3)
    expected = np.frombuffer(b"".join(audio.decode_frame(f).pcm() for f in frames[:3]), dtype="<i2")
    assert np.array_equal(played, expected)
    assert core.stats["speaker_underruns"] == 0


def test_speaker_reports_at_least_every_100ms_while_audio_is_buffered_and_once_when_drained():
    hal, core = make()
    for frame in reply(25):
        core.audio_down_written(frame)
    messages(core)
    report_times = []
    for _ in range(40):
        hal.now += 20
        core.speaker_pull(320)
        if of_type(messages(core), control.Speaker):
            report_times.append(hal.now)
    assert max(np.diff(report_times)) <= 100
    core.speaker_pull(320)
    assert of_type(messages(core), control.Speaker) == []  # drained: no more reports


def test_stop_playback_empties_the_buffer_without_an_underrun():
    hal, core = make()
    for frame in reply(20)[:15]:
        core.audio_down_written(frame)
    pull(hal, core, 3)
    core.control_written(control.StopPlayback().encode())
    assert core.speaker_buffered_ms == 0
    assert not pull(hal, core, 5).any()
    assert core.stats["speaker_underruns"] == 0
    assert of_type(messages(core), control.Speaker)[-1].buffered_ms == 0


def test_set_codec_pcm16_sends_start_frames_and_status():
    hal, core = make()
    core.set_streaming(True)
    tick(hal, core, 2)
    core.control_written(control.SetCodec(audio.CODEC_PCM16).encode())
    assert of_type(messages(core), control.Status)[0].codec == audio.CODEC_PCM16
    frames = [audio.decode_frame(f) for f in tick(hal, core, 2)]
    assert [f.codec for f in frames] == [2] * 8 and frames[0].start and not frames[1].start
    assert [f.seq for f in frames] == list(range(2, 10))  # sequence numbers run on across the switch


def test_speaker_pull_of_any_size():
    hal, core = make()
    for n in (1, 80, 321, 1000):
        assert len(core.speaker_pull(n)) == 2 * n


def test_disconnect_drops_the_reply():
    hal, core = make()
    for frame in reply(10):
        core.audio_down_written(frame)
    core.disconnected()
    assert core.speaker_buffered_ms == 0 and not pull(hal, core, 3).any()


# ---- cues, pairing, passkey ------------------------------------------------------------------------


def dominant_hz(samples):
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return np.argmax(spectrum) * 16000 / len(samples)


@pytest.mark.parametrize("cue", range(1, 8))
def test_every_cue_plays_a_tone(cue):
    hal, core = make()
    core.control_written(control.PlayCue(cue).encode())
    out = pull(hal, core, 40)
    assert np.abs(out).max() > 3000
    assert not out[-320:].any()  # and ends


def test_bad_cue_is_refused():
    _, core = make()
    last_cue = control.PlayCue.FIELDS[0][2][0][1]
    core.control_written(bytes([0x12, 1, last_cue + 1]))
    assert messages(core) == [control.Error(control.ERR_MALFORMED, 0x12)]


def test_passkey_without_clips_plays_a_distinct_tone_per_digit():
    hal, core = make(state={"volume": 100})
    core.speak_passkey(907153)
    out = pull(hal, core, 150)
    loud = np.convolve(np.abs(out) > 500, np.ones(80), "same") > 0  # an envelope: sine zero crossings are not gaps
    # split into the six notes at the silent gaps
    edges = np.flatnonzero(np.diff(np.concatenate([[0], loud.astype(int), [0]])))
    starts, ends = edges[0::2], edges[1::2]
    notes = [(s, e) for s, e in zip(starts, ends) if e - s > 1000]
    assert len(notes) == 6
    heard = [dominant_hz(out[s + 200:e - 200].astype(float)) for s, e in notes]
    for digit, hz in zip([9, 0, 7, 1, 5, 3], heard):
        assert abs(hz - digit_tone_hz(digit)) < 20, (digit, hz)
    assert hal.clip_requests == ["digit_%d" % d for d in (9, 0, 7, 1, 5, 3)]


def test_passkey_digits():
    assert passkey_digits(42) == [0, 0, 0, 0, 4, 2]
    with pytest.raises(ValueError):
        passkey_digits(1000000)


def test_long_press_enters_pairing_reports_the_button_and_times_out_after_180s():
    hal, core = make()
    core.button(control.BUTTON_LONG)
    msgs = messages(core)
    assert control.Button(control.BUTTON_LONG) in msgs
    assert of_type(msgs, control.Status)[-1].pairing
    assert core.pairing_mode and hal.led_modes[-1] == "pairing"
    hal.now += PAIRING_TIMEOUT_MS - 1000
    core.housekeeping()
    assert core.pairing_mode
    hal.now += 1000
    core.housekeeping()
    assert not core.pairing_mode and hal.led_modes[-1] == "idle"
    assert of_type(messages(core), control.Status)[-1].pairing is False


def test_pairing_failure_keeps_pairing_mode_success_ends_it():
    _, core = make()
    core.enter_pairing_mode()
    core.pairing_done(False)
    assert core.pairing_mode
    core.pairing_done(True)
    assert not core.pairing_mode


def test_pairing_timeout_across_a_ticks_wrap():
    hal, core = make()
    hal.now = (1 << 30) - 500
    core.enter_pairing_mode()
    hal.now = PAIRING_TIMEOUT_MS  # wrapped
    core.housekeeping()
    assert not core.pairing_mode
    assert ticks_diff(10, (1 << 30) - 10) == 20


def test_short_and_double_press_are_reported():
    _, core = make()
    core.button(control.BUTTON_PRESS)
    core.button(control.BUTTON_DOUBLE)
    assert messages(core) == [control.Button(1), control.Button(2)]
    assert not core.pairing_mode


# ---- battery -----------------------------------------------------------------------------------------


def test_battery_and_charging_changes_send_status():
    hal, core = make(battery=80)
    core.housekeeping()
    assert messages(core) == []
    hal.battery = 79
    core.housekeeping()
    hal.is_charging = True
    core.housekeeping()
    status = of_type(messages(core), control.Status)
    assert [(s.battery, s.charging) for s in status] == [(79, False), (79, True)]
    assert core.battery == 79


def test_speaker_buffer_memory_is_the_stated_capacity():
    core = EarbudCore(FakeHal(), speaker_capacity_ms=300)
    assert len(core._speaker._ring) == 300 * 16
    assert isinstance(core._speaker._ring, array)


def test_set_quiet_off_while_listening_changes_nothing():
    hal, core = make()
    core.set_streaming(True)
    tick(hal, core, 2)
    saves = hal.saves
    core.control_written(control.SetQuiet(False, control.QUIET_SOURCE_HOST).encode())
    assert messages(core) == [] and hal.saves == saves
    frame = audio.decode_frame(tick(hal, core, 1)[0])
    assert not frame.start and frame.seq == 2  # the stream went on


def test_non_bytes_writes_do_not_raise():
    _, core = make()
    core.control_written(None)
    core.audio_down_written(None)
    assert messages(core) == [control.Error(control.ERR_MALFORMED, 0)]
    assert core.stats["audio_frames_malformed"] == 1


def test_a_reply_that_arrives_during_a_cue_starts_after_it_not_under_it():
    hal, core = make(state={"volume": 100})
    core.control_written(control.PlayCue(control.CUE_LISTEN_END).encode())
    frames = reply(10)
    for frame in frames:
        core.audio_down_written(frame)
    out = pull(hal, core, 20)
    expected = np.frombuffer(b"".join(audio.decode_frame(f).pcm() for f in frames), dtype="<i2")
    # The reply is played whole and unmixed, right after the cue's 120 ms (6 blocks of 20 ms).
    start = 6 * 320
    assert np.array_equal(out[start:start + expected.size], expected)
    assert core.stats["speaker_underruns"] == 0 and core.stats["speaker_overflows"] == 0


def test_a_long_local_sound_does_not_hold_a_reply_back_for_long():
    def run(with_reply):
        hal, core = make(state={"volume": 100})
        core.speak_passkey(123456)  # seconds of spoken digits (tones without clips)
        if with_reply:
            for frame in reply(10):
                core.audio_down_written(frame)
        return core, pull(hal, core, 30).astype(int)

    core, mixed = run(True)
    _, alone = run(False)
    reply_part = np.flatnonzero(mixed != alone)
    # The reply waits 250 ms at most (13 pulls of 20 ms), then is mixed with the passkey, not lost to an overflow.
    assert reply_part.size and reply_part[0] >= 12 * 320 and reply_part[0] < 14 * 320
    assert core.stats["speaker_overflows"] == 0


def test_a_reply_stopped_while_held_does_not_shorten_the_next_replys_wait():
    def run(with_reply):
        hal, core = make(state={"volume": 100})
        core.speak_passkey(123456)
        if with_reply:
            for frame in reply(10):
                core.audio_down_written(frame)
        pull(hal, core, 10)  # the reply waits behind the passkey for 200 ms of its 250 ms
        core.control_written(control.StopPlayback().encode())
        if with_reply:
            for frame in reply(10):
                core.audio_down_written(frame)
        return pull(hal, core, 30).astype(int)

    reply_part = np.flatnonzero(run(True) != run(False))
    # The second reply waits its own 250 ms (13 pulls), not the 50 ms the first one left over.
    assert reply_part.size and reply_part[0] >= 12 * 320
