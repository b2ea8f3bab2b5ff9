"""The reference earbud's board: Seeed XIAO ESP32S3 + ICS-43434 I2S mic + MAX98357A I2S amp (hardware/README.md).

Implements earbud.hal.Hal with machine.I2S, Pin and ADC. Device-only: this file cannot run on the unix port,
so it stays thin; build.py compiles it with mpy-cross to catch errors. Pins are the wiring table's.
"""
import json
import os
import time
from array import array

import machine
import micropython
from machine import ADC, I2S, Pin

from earbud.hal import Hal

# --- wiring (hardware/README.md "Wiring") ---
MIC_SCK = 7  # D8  ICS-43434 SCK
MIC_WS = 8  # D9  ICS-43434 WS
MIC_SD = 9  # D10 ICS-43434 SD
AMP_BCLK = 2  # D1  MAX98357A BCLK
AMP_LRC = 3  # D2  MAX98357A LRC
AMP_DIN = 4  # D3  MAX98357A DIN
AMP_SD = 43  # D6  MAX98357A SD_MODE: high = on (left channel via 1M), low = shutdown (2 uA)
QUIET_SENSE = 5  # D4  second pole of the quiet switch: to GND in the quiet position
BUTTON = 44  # D7  button to GND
VBUS_SENSE = 6  # D5  USB 5 V through 100k/150k: high while plugged in (and so charging)
BATTERY_ADC = 1  # D0/A0 battery through 220k/220k
LED = 21  # the XIAO's user LED, active low

SAMPLE_RATE = 16000
MIC_GAIN_SHIFT = 13  # 24-bit samples in 32-bit slots -> 16 bit with +9 dB: speech at arm's length uses the range
STATE_FILE = "/state.json"
CLIP_DIR = "/clips"

# LED patterns: (on ms, period ms); the app calls led_update() every 50 ms
LED_PATTERNS = {"off": (0, 1000), "idle": (40, 3000), "listening": (1000, 1000), "quiet": (40, 1000),
                "pairing": (150, 300)}


@micropython.native
def _i32_to_i16(src, dst, n, shift):
    for i in range(n):
        v = src[i] >> shift
        if v > 32767:
            v = 32767
        elif v < -32768:
            v = -32768
        dst[i] = v


class XiaoEsp32s3Hal(Hal):
    def __init__(self, block_samples=320):
        self._block = block_samples
        self._free = [array("i", range(block_samples)), array("i", range(block_samples))]  # 20 ms each
        self._full = []  # filled blocks, oldest first
        self._active = None  # the block the I2S DMA is filling
        self.mic_overruns = 0  # blocks lost because the app fell 40 ms behind
        self._mic = None
        self._quiet = Pin(QUIET_SENSE, Pin.IN, Pin.PULL_UP)
        self._vbus = Pin(VBUS_SENSE, Pin.IN)
        self._battery = ADC(Pin(BATTERY_ADC), atten=ADC.ATTN_11DB)
        self._led = Pin(LED, Pin.OUT, value=1)
        self._led_mode = "off"
        self.button_pin = Pin(BUTTON, Pin.IN, Pin.PULL_UP)
        self.amp_enable = Pin(AMP_SD, Pin.OUT, value=0)
        self.speaker = I2S(1, sck=Pin(AMP_BCLK), ws=Pin(AMP_LRC), sd=Pin(AMP_DIN), mode=I2S.TX, bits=16,
                           format=I2S.MONO, rate=SAMPLE_RATE, ibuf=6400)

    # --- microphone: non-blocking I2S reads, two 20 ms blocks in rotation ---
    def mic_start(self):
        if self._mic is not None:
            return
        self._mic = I2S(0, sck=Pin(MIC_SCK), ws=Pin(MIC_WS), sd=Pin(MIC_SD), mode=I2S.RX, bits=32,
                        format=I2S.MONO, rate=SAMPLE_RATE, ibuf=8192)
        self._mic.irq(self._mic_done)  # non-blocking mode: readinto returns at once, irq when filled
        self._free.extend(self._full)
        self._full = []
        self._read_next()

    def _read_next(self):
        if self._mic is not None and self._active is None and self._free:
            self._active = self._free.pop()
            self._mic.readinto(self._active)

    def _mic_done(self, _i2s):
        if self._active is not None:
            self._full.append(self._active)
            self._active = None
        if not self._free:
            self.mic_overruns += 1
        self._read_next()

    def mic_stop(self):
        if self._mic is not None:
            self._mic.deinit()
            self._mic = None
        if self._active is not None:
            self._free.append(self._active)
            self._active = None

    def mic_read(self, n_samples):
        if self._mic is None or n_samples != self._block or not self._full:
            return None
        raw = self._full.pop(0)
        out = array("h", range(n_samples))
        _i32_to_i16(raw, out, n_samples, MIC_GAIN_SHIFT)
        self._free.append(raw)
        self._read_next()
        return bytes(out)

    # --- switches, battery, LED, clock ---
    def quiet_switch(self):
        return self._quiet.value() == 0

    def battery_percent(self):
        # LiPo: 3.30 V empty .. 4.15 V full, roughly linear under the earbud's small load; 2:1 divider
        millivolts = self._battery.read_uv() * 2 // 1000
        if millivolts < 2500:
            return 255  # no battery (USB only) or a broken divider
        return max(0, min(100, (millivolts - 3300) * 100 // 850))

    def charging(self):
        return self._vbus.value() == 1 and self.battery_percent() < 100

    def led(self, mode):
        self._led_mode = mode

    def led_update(self, now_ms):
        on_ms, period = LED_PATTERNS.get(self._led_mode, (0, 1000))
        self._led.value(0 if now_ms % period < on_ms else 1)

    def ticks_ms(self):
        return time.ticks_ms()

    # --- flash ---
    def load_state(self):
        try:
            with open(STATE_FILE) as f:
                return json.load(f)
        except (OSError, ValueError):
            return {}

    def save_state(self, d):
        # write then rename: a power cut mid-write leaves the old settings, never a torn file
        with open(STATE_FILE + ".tmp", "w") as f:
            json.dump(d, f)
        os.rename(STATE_FILE + ".tmp", STATE_FILE)

    def clip(self, name):
        try:
            with open("%s/%s.pcm" % (CLIP_DIR, name), "rb") as f:
                return f.read()
        except OSError:
            return None

    def reset(self):
        machine.reset()
