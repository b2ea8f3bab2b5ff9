"""A fake board for the earbud core, in the MicroPython subset: it runs under CPython (pytest) and on the
MicroPython unix port (tests/firmware/mp_tests.py). Records everything the core asks of it."""
from earbud.hal import Hal


def ramp_pcm(n_samples, start=0):
    """Deterministic, non-trivial mic samples: a sawtooth-like ramp with a second harmonic, as PCM16LE."""
    out = bytearray(2 * n_samples)
    for i in range(n_samples):
        t = start + i
        v = ((t * 397) % 20000) - 10000 + ((t * 53) % 3000)
        out[2 * i] = v & 0xFF
        out[2 * i + 1] = (v >> 8) & 0xFF
    return bytes(out)


class FakeHal(Hal):
    def __init__(self, switch=False, state=None, clips=None, battery=80):
        self.switch = switch
        self.state = state if state is not None else {}
        self.clips = clips or {}
        self.battery = battery
        self.is_charging = False
        self.now = 1000
        self.mic_on = False
        self.mic_reads = 0
        self.mic_position = 0  # samples handed out so far
        self.mic_available = True
        self.led_modes = []
        self.saves = 0
        self.clip_requests = []

    def mic_start(self):
        self.mic_on = True

    def mic_stop(self):
        self.mic_on = False

    def mic_read(self, n_samples):
        if not self.mic_on:
            raise AssertionError("mic_read while the mic is off")
        self.mic_reads += 1
        if not self.mic_available:
            return None
        self.mic_available = False  # one block per tick, like a real 20 ms DMA buffer
        pcm = ramp_pcm(n_samples, self.mic_position)
        self.mic_position += n_samples
        return pcm

    def quiet_switch(self):
        return self.switch

    def battery_percent(self):
        return self.battery

    def charging(self):
        return self.is_charging

    def led(self, mode):
        self.led_modes.append(mode)

    def ticks_ms(self):
        return self.now

    def load_state(self):
        return dict(self.state)

    def save_state(self, d):
        self.saves += 1
        self.state = dict(d)

    def clip(self, name):
        self.clip_requests.append(name)
        return self.clips.get(name)
