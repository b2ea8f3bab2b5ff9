"""The board interface the earbud core drives.

A board (the ESP32-S3 reference earbud, the simulator, a test fake) subclasses Hal and implements every
method. The core calls them from its own event handlers only, never from an interrupt, so implementations
may allocate. Every method must return quickly (the core runs them inside its 20 ms audio tick).
"""


class Hal:
    def mic_start(self):
        """Power up the microphone and start capturing 16 kHz mono PCM16LE into a buffer."""
        raise NotImplementedError

    def mic_stop(self):
        """Stop capturing and power the microphone down; buffered samples are discarded."""
        raise NotImplementedError

    def mic_read(self, n_samples):
        """Return exactly n_samples PCM16LE samples (2 * n bytes) captured since the last read,
        or None when fewer are available yet. Never returns a partial block."""
        raise NotImplementedError

    def quiet_switch(self):
        """True while the hardware quiet switch is in the quiet position (mic power cut)."""
        raise NotImplementedError

    def battery_percent(self):
        """Battery charge 0..100, or 255 when unknown."""
        raise NotImplementedError

    def charging(self):
        """True while the battery is being charged."""
        raise NotImplementedError

    def led(self, mode):
        """Show a state on the LED: "off", "idle", "listening", "quiet" or "pairing"."""
        raise NotImplementedError

    def ticks_ms(self):
        """A millisecond clock. It may wrap like MicroPython's time.ticks_ms (period 2**30) or be unbounded."""
        raise NotImplementedError

    def load_state(self):
        """Return the persisted settings dict ({} when nothing was saved or it is unreadable)."""
        raise NotImplementedError

    def save_state(self, d):
        """Persist the settings dict (small: quiet, quiet_source, volume) so it survives a reboot."""
        raise NotImplementedError

    def clip(self, name):
        """Return a PCM16LE 16 kHz clip ("digit_0".."digit_9"), or None to make the core use tones."""
        return None


_TICKS_PERIOD = 1 << 30  # MicroPython's time.ticks_ms wraps here; unbounded clocks work too


def ticks_diff(new, old):
    """new - old in ms for two Hal.ticks_ms() readings, correct across a wrap (for differences under ~6 days)."""
    half = _TICKS_PERIOD >> 1
    return ((new - old + half) & (_TICKS_PERIOD - 1)) - half
