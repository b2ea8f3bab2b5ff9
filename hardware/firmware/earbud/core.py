"""The earbud's logic, sans-I/O: link and hardware events in, notification values and speaker samples out.

The board glue (aioble GATT server + machine.I2S HAL on the device, Bumble + WAV files in the simulator) calls
these methods and moves bytes; everything that decides anything lives here and in the parts beside it
(audio_path: mic and speaker, the class this one builds on; outbox: what the host is told; settings: what
survives a reboot; control_write: a control write split into messages), so it is tested on CPython and on the
MicroPython unix port alike. The core touches the board only through earbud.hal.Hal. This file holds the modes
(quiet, pairing, volume, the LED) and answers the host's control messages.

Privacy rule: in quiet mode the microphone is powered down and never read, and no audio-up frame is produced.
"""
from protocol import control
from protocol.receiver import AudioReceiver

from earbud import control_write, settings
from earbud.audio_path import AudioPath
from earbud.hal import ticks_diff
from earbud.outbox import Outbox
from earbud.sounds import passkey_digits

PROTOCOL_VERSION = 1
SUPPORTED_CODECS = control.CODECS_MASK_ADPCM | control.CODECS_MASK_PCM16
PAIRING_TIMEOUT_MS = 180000
STATS = ("audio_frames_sent", "audio_frames_received", "audio_frames_malformed", "speaker_underruns",
         "speaker_overflows", "control_messages", "control_errors", "quiet_frames_suppressed", "notifications_dropped")


class EarbudCore(AudioPath):
    def __init__(self, hal, firmware_version="0.1.0", model="EP-1", speaker_capacity_ms=600, prebuffer_ms=60):
        AudioPath.__init__(self, hal, speaker_capacity_ms, prebuffer_ms)
        self.firmware_version = firmware_version
        self.model = model
        self.stats = {name: 0 for name in STATS}
        self._outbox = Outbox(self.stats)
        self._connected = False
        self._streaming = False
        self._pairing = False
        self._pairing_since = 0
        self._battery = hal.battery_percent()
        self._charging = bool(hal.charging())
        self._led = None
        self._switch_quiet = bool(hal.quiet_switch())  # the switch as last reported (boot read, then events)
        self._quiet, self._quiet_source, self._volume = settings.restore(hal, self._switch_quiet)
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

    def _save_settings(self):
        settings.save(self.hal, self._quiet, self._quiet_source, self._volume)

    def _set_quiet(self, quiet, source):
        """Enter or leave quiet; returns True if anything changed (then: persisted, STATUS queued)."""
        quiet = bool(quiet)
        if quiet == self._quiet and (not quiet or source == self._quiet_source):
            return False  # e.g. SET_QUIET(0) while listening: the stream goes on untouched
        entering = quiet and not self._quiet
        self._quiet = quiet
        self._quiet_source = source  # who changed it last, also when leaving quiet
        if entering:
            self._new_stream()  # drop audio captured before quiet began: none of it is sent after
        elif not quiet:
            self._encoder.restart()  # the next frame starts a new stream (START)
        self._update_mic()
        self._update_led()
        self._save_settings()
        self._queue_status()
        return True

    def _update_mic(self):
        self._mic_power(self._connected and self._streaming and not self._quiet)

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
        self._connected = self._outbox.open = True
        self._streaming = False
        self._outbox.clear()
        self._receiver = AudioReceiver()
        self._drop_reply()
        self._update_led()

    def disconnected(self):
        self._connected = self._outbox.open = False
        self._streaming = False
        self._outbox.clear()
        self._drop_reply()  # a reply to a host that is gone is not worth finishing
        self._last_speaker_report = None
        self._update_mic()
        self._update_led()

    def set_streaming(self, on):
        """The host subscribed (on) or unsubscribed to audio up."""
        on = bool(on)
        if on and not self._streaming:
            self._new_stream()
        self._streaming = on
        self._update_mic()
        self._update_led()

    def control_written(self, data):
        """One write to the control characteristic: one or more messages. Answers go to take_notifications()."""
        for kind, message, error in control_write.read_messages(data):
            if error:
                self._queue_error(error, kind)
            else:
                self.stats["control_messages"] += 1
                self._handle_control(message, kind)

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
        self._outbox.put(control.Button(event))
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
        return self._mic_frames()

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
        return self._outbox.take()

    def status_message(self):
        speaker_ms = self._speaker.buffered_ms
        return control.Status(
            self._quiet, self._charging, self._pairing, self._quiet_source, self._battery, self.codec,
            self._volume, min(speaker_ms, 65535), min(self.speaker_capacity_ms, 65535), self.firmware_version,
        )

    def status_value(self):
        """The encoded STATUS message, the value of a status characteristic read."""
        return self.status_message().encode()

    # ---- control messages ----------------------------------------------------------------------------

    def _handle_control(self, message, kind):
        if isinstance(message, control.Hello):
            self._outbox.put(control.EarbudHello(PROTOCOL_VERSION, SUPPORTED_CODECS, self.firmware_version))
            self._queue_status()
        elif isinstance(message, control.GetStatus):
            self._queue_status()
        elif isinstance(message, control.Ping):
            self._outbox.put(control.Pong(message.token))
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
                self._save_settings()
                self._queue_status()
        elif isinstance(message, control.PlayCue):
            self._player.play_cue(message.cue)
        elif isinstance(message, control.SetCodec):
            if message.codec != self.codec:
                self._new_stream(message.codec)  # the next frame, in the new codec, carries START
                self._queue_status()
        elif isinstance(message, control.StopPlayback):
            self._stop_playback()
        else:  # an earbud->host message written to us
            self._queue_error(control.ERR_UNSUPPORTED, kind)

    def _queue_status(self):
        self._outbox.put(self.status_message())

    def _queue_error(self, code, about):
        self.stats["control_errors"] += 1
        self._outbox.put(control.Error(code, about))
