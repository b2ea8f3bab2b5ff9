"""The earbud's logic, sans-I/O: link and hardware events in, notification values and speaker samples out.

The board glue (aioble GATT server + machine.I2S HAL on the device, Bumble + WAV files in the simulator) calls
these methods and moves bytes; everything that decides anything lives here, so it is tested on CPython and on
the MicroPython unix port alike. The core touches the board only through earbud.hal.Hal.

Privacy rule: in quiet mode the microphone is powered down and never read, and no audio-up frame is produced.
"""
from array import array

from protocol import ProtocolError
from protocol import audio, control
from protocol.gatt import MAX_ATT_PAYLOAD
from protocol.receiver import AudioReceiver

from earbud import pcm
from earbud.sounds import LocalPlayer, passkey_digits
from earbud.speaker import SpeakerBuffer

PROTOCOL_VERSION = 1
SUPPORTED_CODECS = control.CODECS_MASK_ADPCM | control.CODECS_MASK_PCM16
PAIRING_TIMEOUT_MS = 180000
SPEAKER_REPORT_MS = 80  # README §4 asks for <= 100 ms; pulls come every ~20 ms, so report from 80 ms on
DEFAULT_VOLUME = 80
MIC_BLOCK_SAMPLES = 320  # 20 ms, one ADPCM frame or four PCM16 frames per read
MIC_MAX_BLOCKS_PER_TICK = 4  # catch up after a late tick, but never spin on a runaway mic
REPLY_HOLD_MAX_SAMPLES = 250 * 16  # a reply waits for a cue to finish for at most 250 ms
MAX_PENDING_NOTIFICATIONS = 32  # messages; a stalled link cannot grow RAM without bound

_TICKS_PERIOD = 1 << 30  # MicroPython's time.ticks_ms wraps here; unbounded clocks work too


def ticks_diff(new, old):
    """new - old in ms, correct across a time.ticks_ms wrap (for differences under ~6 days)."""
    half = _TICKS_PERIOD >> 1
    return ((new - old + half) & (_TICKS_PERIOD - 1)) - half


class EarbudCore:
    def __init__(self, hal, firmware_version="0.1.0", model="EP-1", speaker_capacity_ms=600, prebuffer_ms=60):
        self.hal = hal
        self.firmware_version = firmware_version
        self.model = model
        self.speaker_capacity_ms = speaker_capacity_ms
        self.stats = {
            "audio_frames_sent": 0,
            "audio_frames_received": 0,
            "audio_frames_malformed": 0,
            "speaker_underruns": 0,
            "speaker_overflows": 0,
            "control_messages": 0,
            "control_errors": 0,
            "quiet_frames_suppressed": 0,
            "notifications_dropped": 0,
        }
        self._connected = False
        self._streaming = False
        self._mic_on = False
        self._codec = audio.CODEC_ADPCM
        self._encoder = audio.FrameEncoder(self._codec)
        self._receiver = AudioReceiver()
        self._speaker = SpeakerBuffer(speaker_capacity_ms, prebuffer_ms)
        self._player = LocalPlayer(hal)
        self._held = 0  # samples the current reply has waited for a cue
        self._outbox = []
        self._last_speaker_report = None  # ticks of the last SPEAKER report; None = none since it drained
        self._pairing = False
        self._pairing_since = 0
        self._battery = hal.battery_percent()
        self._charging = bool(hal.charging())
        self._led = None
        self._switch_quiet = bool(hal.quiet_switch())  # the switch as last reported (boot read, then events)
        self._quiet, self._quiet_source, self._volume = self._restore_state()
        self._update_led()

    # ---- state ---------------------------------------------------------------------------------------

    @property
    def quiet(self):
        return self._quiet

    @property
    def quiet_source(self):
        return self._quiet_source

    @property
    def volume(self):
        return self._volume

    @property
    def codec(self):
        return self._codec

    @property
    def battery(self):
        """The last battery reading 0..100 (255 unknown), for the Battery Level characteristic."""
        return self._battery

    @property
    def connected_now(self):
        return self._connected

    @property
    def streaming(self):
        return self._streaming

    @property
    def pairing_mode(self):
        return self._pairing

    @property
    def speaker_buffered_ms(self):
        return self._speaker.buffered_ms

    @property
    def speaker_busy(self):
        """True while anything is to be heard (reply audio or a local sound): the board powers its amp."""
        return self._speaker.count > 0 or self._player.busy

    def _restore_state(self):
        try:
            saved = self.hal.load_state() or {}
        except Exception:  # a corrupt settings file must not brick the earbud: start from defaults
            saved = {}
        volume = saved.get("volume", DEFAULT_VOLUME)
        if not isinstance(volume, int) or not 0 <= volume <= 100:
            volume = DEFAULT_VOLUME
        quiet = saved.get("quiet") is True
        source = saved.get("quiet_source", control.QUIET_SOURCE_HOST)
        if source not in (control.QUIET_SOURCE_HOST, control.QUIET_SOURCE_VOICE, control.QUIET_SOURCE_SWITCH):
            source = control.QUIET_SOURCE_HOST
        if self._switch_quiet:
            return True, control.QUIET_SOURCE_SWITCH, volume
        if quiet and source == control.QUIET_SOURCE_SWITCH:
            quiet = False  # the switch was moved to "listen" while we were off
        return quiet, (source if quiet else control.QUIET_SOURCE_HOST), volume

    def _save_state(self):
        try:
            self.hal.save_state({"quiet": self._quiet, "quiet_source": self._quiet_source, "volume": self._volume})
        except Exception:  # a full or failing flash loses a setting, never the earbud
            pass

    def _set_quiet(self, quiet, source):
        """Enter or leave quiet; returns True if anything changed (then: persisted, STATUS queued)."""
        quiet = bool(quiet)
        if quiet == self._quiet and (not quiet or source == self._quiet_source):
            return False  # e.g. SET_QUIET(0) while listening: the stream goes on untouched
        entering = quiet and not self._quiet
        self._quiet = quiet
        self._quiet_source = source  # who changed it last, also when leaving quiet
        if entering:
            # drop audio captured before quiet began: nothing recorded is sent after the user asked for quiet
            self._encoder = audio.FrameEncoder(self._codec, self._encoder.seq)
        elif not quiet:
            self._encoder.restart()  # the next frame starts a new stream (START)
        self._update_mic()
        self._update_led()
        self._save_state()
        self._queue_status()
        return True

    def _update_mic(self):
        want = self._connected and self._streaming and not self._quiet
        if want and not self._mic_on:
            self.hal.mic_start()
            self._mic_on = True
        elif not want and self._mic_on:
            self.hal.mic_stop()
            self._mic_on = False

    def _update_led(self):
        if self._pairing:
            mode = "pairing"
        elif self._quiet:
            mode = "quiet"
        elif self._connected and self._streaming:
            mode = "listening"
        else:
            mode = "idle"
        if mode != self._led:
            self._led = mode
            self.hal.led(mode)

    # ---- link events ---------------------------------------------------------------------------------

    def connected(self):
        self._connected = True
        self._streaming = False
        self._outbox = []
        self._receiver = AudioReceiver()
        self._drop_reply()
        self._update_led()

    def disconnected(self):
        self._connected = False
        self._streaming = False
        self._outbox = []
        self._drop_reply()  # a reply to a host that is gone is not worth finishing
        self._last_speaker_report = None
        self._update_mic()
        self._update_led()

    def set_streaming(self, on):
        """The host subscribed (on) or unsubscribed to audio up."""
        on = bool(on)
        if on and not self._streaming:
            self._encoder = audio.FrameEncoder(self._codec, self._encoder.seq)  # a fresh stream with START
        self._streaming = on
        self._update_mic()
        self._update_led()

    def control_written(self, data):
        """One write to the control characteristic: one or more messages. Answers go to take_notifications()."""
        try:
            data = bytes(data)
        except Exception:  # not bytes at all: a glue bug, answered like any malformed write
            self._queue_error(control.ERR_MALFORMED, 0)
            return
        position = 0
        size = len(data)
        while position < size:
            kind = data[position]
            if size - position < 2 or size - position - 2 < data[position + 1]:
                self._queue_error(control.ERR_MALFORMED, kind)  # truncated: nothing after it can be trusted
                return
            end = position + 2 + data[position + 1]
            try:
                messages = control.decode_messages(data[position:end])
            except ProtocolError as error:
                unknown = error.code == "UNKNOWN_TYPE"
                self._queue_error(control.ERR_UNSUPPORTED if unknown else control.ERR_MALFORMED, kind)
            except Exception:  # the decoder promises ProtocolError only; a bug there must not stop the earbud
                self._queue_error(control.ERR_MALFORMED, kind)
            else:
                for message in messages:
                    self.stats["control_messages"] += 1
                    self._handle_control(message, kind)
            position = end

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
            self._queue_speaker_report()
        self._maybe_report_speaker()

    # ---- hardware events -----------------------------------------------------------------------------

    def switch_changed(self, quiet):
        """The quiet slide switch moved. It cuts the mic's power itself; we follow and tell the host."""
        quiet = bool(quiet)
        self._switch_quiet = quiet
        if quiet:
            changed = self._set_quiet(True, control.QUIET_SOURCE_SWITCH)
        elif self._quiet:
            changed = self._set_quiet(False, control.QUIET_SOURCE_SWITCH)
        else:
            changed = False
        if changed:
            self._player.play_cue(control.CUE_QUIET_ON if quiet else control.CUE_QUIET_OFF)

    def button(self, event):
        """A button gesture (control.BUTTON_*): reported to the host; a long press also starts pairing."""
        if self._connected:
            self._queue(control.Button(event))
        if event == control.BUTTON_LONG:
            self.enter_pairing_mode()

    # ---- periodic ------------------------------------------------------------------------------------

    def mic_tick(self):
        """Every 20 ms: audio-up frames to notify ([] in quiet, when not subscribed, or no mic data yet)."""
        if not (self._connected and self._streaming):
            return []
        if self._quiet:
            self.stats["quiet_frames_suppressed"] += 1
            return []
        frames = []
        for _ in range(MIC_MAX_BLOCKS_PER_TICK):
            block = self.hal.mic_read(MIC_BLOCK_SAMPLES)
            if block is None:
                break
            frames.extend(self._encoder.encode(block))
        self.stats["audio_frames_sent"] += len(frames)
        return frames

    def _drop_reply(self):
        """Drop the reply audio held for the speaker, and with it the time it waited for a cue."""
        self._speaker.clear()
        self._held = 0

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
            self._queue_speaker_report()  # drained: tell the host once
            self._last_speaker_report = None
        else:
            self._maybe_report_speaker()
        return bytes(out)

    def housekeeping(self):
        """About once a second: battery and charging changes, the pairing timeout."""
        battery = self.hal.battery_percent()
        charging = bool(self.hal.charging())
        if battery != self._battery or charging != self._charging:
            self._battery = battery
            self._charging = charging
            self._queue_status()
        if self._pairing and ticks_diff(self.hal.ticks_ms(), self._pairing_since) >= PAIRING_TIMEOUT_MS:
            self._set_pairing(False)

    # ---- pairing -------------------------------------------------------------------------------------

    def enter_pairing_mode(self):
        """Become discoverable for bonding for 180 s (again from now if already pairing)."""
        self._pairing_since = self.hal.ticks_ms()
        if not self._pairing:
            self._set_pairing(True)
            self._player.play_cue(control.CUE_PAIRING)

    def pairing_done(self, success):
        if success and self._pairing:
            self._set_pairing(False)
            self._player.play_cue(control.CUE_CONNECTED)

    def speak_passkey(self, passkey):
        """Say the six digits of a pairing passkey in the ear: the earbud's only 'display'."""
        self._player.play_digits(passkey_digits(passkey))

    def _set_pairing(self, on):
        self._pairing = on
        self._update_led()
        self._queue_status()

    # ---- outputs -------------------------------------------------------------------------------------

    def take_notifications(self):
        """Values to notify on the status characteristic, each <= 244 bytes of whole messages."""
        values = []
        current = b""
        for message in self._outbox:
            if current and len(current) + len(message) > MAX_ATT_PAYLOAD:
                values.append(current)
                current = b""
            current += message
        if current:
            values.append(current)
        self._outbox = []
        return values

    def status_message(self):
        return control.Status(
            self._quiet, self._charging, self._pairing, self._quiet_source, self._battery, self._codec,
            self._volume, min(self._speaker.buffered_ms, 65535), min(self.speaker_capacity_ms, 65535),
            self.firmware_version,
        )

    def status_value(self):
        """The encoded STATUS message, the value of a status characteristic read."""
        return self.status_message().encode()

    def speaker_message(self):
        return control.Speaker(
            min(self._speaker.buffered_ms, 65535), min(self.speaker_capacity_ms, 65535),
            self._speaker.underruns & 0xFFFF, self._speaker.overflows & 0xFFFF,
        )

    # ---- internals -----------------------------------------------------------------------------------

    def _handle_control(self, message, kind):
        if isinstance(message, control.Hello):
            self._queue(control.EarbudHello(PROTOCOL_VERSION, SUPPORTED_CODECS, self.firmware_version))
            self._queue_status()
        elif isinstance(message, control.GetStatus):
            self._queue_status()
        elif isinstance(message, control.Ping):
            self._queue(control.Pong(message.token))
        elif isinstance(message, control.SetQuiet):
            if not message.quiet and self._switch_quiet:
                self._queue_error(control.ERR_QUIET_HELD_BY_SWITCH, kind)
            elif message.quiet and self._quiet and self._quiet_source == control.QUIET_SOURCE_SWITCH:
                pass  # already held by the switch, which stays the reason
            else:
                self._set_quiet(message.quiet, message.source)
        elif isinstance(message, control.SetVolume):
            if message.volume != self._volume:
                self._volume = message.volume
                self._save_state()
                self._queue_status()
        elif isinstance(message, control.PlayCue):
            self._player.play_cue(message.cue)
        elif isinstance(message, control.SetCodec):
            if message.codec != self._codec:
                self._codec = message.codec
                self._encoder = audio.FrameEncoder(message.codec, self._encoder.seq)  # next frame: START
                self._queue_status()
        elif isinstance(message, control.StopPlayback):
            had_audio = self._speaker.count > 0
            self._drop_reply()
            self._receiver = AudioReceiver()
            if had_audio:
                self._queue_speaker_report()
        else:  # an earbud->host message written to us
            self._queue_error(control.ERR_UNSUPPORTED, kind)

    def _queue(self, message):
        if not self._connected:
            return  # nobody to tell; the host reads STATUS after it connects
        if len(self._outbox) >= MAX_PENDING_NOTIFICATIONS:
            self._outbox.pop(0)
            self.stats["notifications_dropped"] += 1
        self._outbox.append(message.encode())

    def _queue_status(self):
        self._queue(self.status_message())

    def _queue_error(self, code, about):
        self.stats["control_errors"] += 1
        self._queue(control.Error(code, about))

    def _queue_speaker_report(self):
        self._last_speaker_report = self.hal.ticks_ms()
        self._queue(self.speaker_message())

    def _maybe_report_speaker(self):
        if self._speaker.count == 0:
            return
        now = self.hal.ticks_ms()
        if self._last_speaker_report is None or ticks_diff(now, self._last_speaker_report) >= SPEAKER_REPORT_MS:
            self._queue_speaker_report()
