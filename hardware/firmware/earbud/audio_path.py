"""The earbud's two audio paths: mic blocks to audio-up frames, and audio-down frames to the speaker.

On the way to the speaker a reply waits while a cue is still sounding (for a cue's length at most), local sounds
are mixed over it, the volume is applied, and SPEAKER reports tell the host how full the buffer is so it can pace
the downlink. Whether the mic may be read at all (quiet, subscription) is decided by EarbudCore (core.py), which
builds on this class: a base class rather than a part, because on the device every delegating method costs RAM.
"""
from array import array

from protocol import audio, control
from protocol.cues import REPLY_HOLD_MAX_MS
from protocol.receiver import AudioReceiver

from earbud import pcm
from earbud.hal import ticks_diff
from earbud.sounds import LocalPlayer
from earbud.speaker import SpeakerBuffer

SPEAKER_REPORT_MS = 80  # README §4 asks for <= 100 ms; pulls come every ~20 ms, so report from 80 ms on
MIC_BLOCK_SAMPLES = 320  # 20 ms, one ADPCM frame or four PCM16 frames per read
MIC_MAX_BLOCKS_PER_TICK = 4  # catch up after a late tick, but never spin on a runaway mic
REPLY_HOLD_MAX_SAMPLES = REPLY_HOLD_MAX_MS * 16  # a reply waits for a cue to finish for at most this long


class AudioPath:
    """Frame encoder and receiver, speaker buffer and local sounds. Counts into self.stats, queues its SPEAKER
    reports in self._outbox and plays at self._volume (0..100), all three set up by the core."""

    def __init__(self, hal, speaker_capacity_ms, prebuffer_ms):
        self.hal = hal
        self.speaker_capacity_ms = speaker_capacity_ms
        self._encoder = audio.FrameEncoder(audio.CODEC_ADPCM)
        self._receiver = AudioReceiver()
        self._speaker = SpeakerBuffer(speaker_capacity_ms, prebuffer_ms)
        self._player = LocalPlayer(hal)
        self._mic_on = False
        self._held = 0  # samples the current reply has waited for a cue
        self._last_speaker_report = None  # ticks of the last SPEAKER report; None = none since it drained

    @property
    def codec(self):
        return self._encoder.codec

    @property
    def speaker_buffered_ms(self):
        return self._speaker.buffered_ms

    @property
    def speaker_busy(self):
        """True while anything is to be heard (reply audio or a local sound): the board powers its amp."""
        return self._speaker.count > 0 or self._player.busy

    # ---- mic -> audio up -----------------------------------------------------------------------------

    def _new_stream(self, codec=None):
        """The next frame starts a new stream (START); PCM captured but not yet sent is dropped."""
        self._encoder = audio.FrameEncoder(self.codec if codec is None else codec, self._encoder.seq)

    def _mic_power(self, on):
        if on and not self._mic_on:
            self.hal.mic_start()
        elif not on and self._mic_on:
            self.hal.mic_stop()
        self._mic_on = on

    def _mic_frames(self):
        """The frames of what the mic captured since the last call (it is on)."""
        frames = []
        for _ in range(MIC_MAX_BLOCKS_PER_TICK):
            block = self.hal.mic_read(MIC_BLOCK_SAMPLES)
            if block is None:
                break
            frames.extend(self._encoder.encode(block))
        self.stats["audio_frames_sent"] += len(frames)
        return frames

    # ---- audio down -> speaker -----------------------------------------------------------------------

    def audio_down_written(self, data):
        """One write to audio down: a frame of reply audio for the speaker. Never raises."""
        receiver = self._receiver
        malformed = receiver.stats["malformed"]
        try:
            samples = receiver.receive(data)
        except Exception:  # the receiver promises not to raise; the earbud must not die if it ever does
            receiver.stats["malformed"] += 1
        if receiver.stats["malformed"] != malformed:
            self.stats["audio_frames_malformed"] += 1
            return
        self.stats["audio_frames_received"] += 1
        end = bool(data[1] & audio.FLAG_END)  # a well-formed frame has its flags byte
        if self._speaker.write(samples, end):
            self.stats["speaker_overflows"] = self._speaker.overflows
            self._report_speaker()
        self._maybe_report_speaker()

    def _drop_reply(self):
        """Drop the reply audio held for the speaker, and with it the time it waited for a cue."""
        self._speaker.clear()
        self._held = 0

    def _stop_playback(self):
        had_audio = self._speaker.count > 0
        self._drop_reply()
        self._receiver = AudioReceiver()
        if had_audio:
            self._report_speaker()

    def speaker_pull(self, n_samples):
        """The next n_samples PCM16LE samples for the amp: reply audio plus local sounds, volume applied."""
        out = array("h", bytes(2 * n_samples))
        had_audio = self._speaker.count > 0
        if self._player.busy and self._speaker.untouched and self._held < REPLY_HOLD_MAX_SAMPLES:
            # A cue is still sounding: the reply starts after it instead of being drowned by it (for a cue's
            # length at most; a longer sound, such as the spoken passkey, is mixed with the reply instead).
            self._held += n_samples
            got = 0
        else:
            got = self._speaker.read_into(out, n_samples)
            if got:
                self._held = 0
        self.stats["speaker_underruns"] = self._speaker.underruns
        if self._player.busy:
            self._player.mix_into(out, n_samples)
        elif not got:
            return bytes(out)  # silence: skip the volume loop (the idle earbud pulls silence 50 times a second)
        if self._volume < 100:
            pcm.scale(out, n_samples, (self._volume * 256) // 100)
        if had_audio and self._speaker.count == 0:
            self._report_speaker()  # drained: tell the host once
            self._last_speaker_report = None
        else:
            self._maybe_report_speaker()
        return bytes(out)

    def speaker_message(self):
        return control.Speaker(
            min(self._speaker.buffered_ms, 65535), min(self.speaker_capacity_ms, 65535),
            self._speaker.underruns & 0xFFFF, self._speaker.overflows & 0xFFFF,
        )

    def _report_speaker(self):
        self._last_speaker_report = self.hal.ticks_ms()
        self._outbox.put(self.speaker_message())

    def _maybe_report_speaker(self):
        if self._speaker.count == 0:
            return
        now = self.hal.ticks_ms()
        if self._last_speaker_report is None or ticks_diff(now, self._last_speaker_report) >= SPEAKER_REPORT_MS:
            self._report_speaker()
