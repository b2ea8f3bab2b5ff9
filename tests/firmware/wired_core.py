"""The real EarbudCore wired to a test's hands, no Bluetooth: what a connected host sees, without radio or Bumble.

    bud = WiredCore()                                       # connected, host subscribed to audio up
    bud.write(control.SetQuiet(True, control.QUIET_SOURCE_HOST).encode())   # one control write, as bytes
    frames = bud.tick(5)                                    # 5 x 20 ms: the audio-up frames it would notify
    messages = bud.messages()                               # status notifications since last asked, decoded

The board is earbud_fakes.FakeHal (its mic hands out one 20 ms block of a deterministic ramp per tick); the
core is the very class the firmware and the simulator run. CPython only (a test helper).
"""
from earbud.core import EarbudCore
from protocol import control
from tests.firmware.earbud_fakes import FakeHal

TICK_MS = 20
TICK_SAMPLES = 320


class WiredCore:
    def __init__(self, switch=False, state=None, subscribed=True, **core_options):
        """switch: the quiet switch's position at boot; state: settings saved before this boot (a dict);
        core_options: EarbudCore's keyword arguments (firmware_version, speaker_capacity_ms, ...)."""
        self.hal = FakeHal(switch=switch, state=state)
        self.core = EarbudCore(self.hal, **core_options)
        self.core.connected()
        if subscribed:
            self.core.set_streaming(True)
        self.speaker = bytearray()  # everything the amp was given, PCM16LE 16 kHz

    def write(self, data):
        """One write to the control characteristic (one or more encoded messages)."""
        self.core.control_written(data)

    def tick(self, n=1):
        """n audio ticks: mic in, speaker out. Returns the audio-up frames (encoded) they produced."""
        frames = []
        for _ in range(n):
            self.hal.mic_available = True
            self.hal.now += TICK_MS
            frames.extend(self.core.mic_tick())
            self.speaker += self.core.speaker_pull(TICK_SAMPLES)
        return frames

    def messages(self):
        """The messages notified on the status characteristic since the last call, decoded, in order."""
        return [message for value in self.core.take_notifications() for message in control.decode_messages(value)]

    def move_switch(self, quiet):
        """The wearer slides the quiet switch."""
        self.hal.switch = quiet
        self.core.switch_changed(quiet)
