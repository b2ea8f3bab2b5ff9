"""The earbud application: asyncio tasks that move bytes between the radio, the board and the core.

Every decision is the core's (earbud/core.py, tested on the unix port); these tasks only wait and move data:
  advertise/connect -> link events; audio-down and control writes -> core; mic tick (20 ms) -> notifications;
  speaker pull -> I2S amp; button and switch -> core; housekeeping (1 s) -> battery, pairing timeout, watchdog.
Device-only (machine, bluetooth, aioble); build.py compiles it with mpy-cross.
"""
import os
import time

import asyncio
import machine

from earbud.core import EarbudCore
from protocol import control

from board_esp32s3 import XiaoEsp32s3Hal
from gatt_server import EarpieceGatt, on_passkey_request

FIRMWARE_VERSION = "0.1.0"
MODEL = "EP-1"
NAME = "Earpiece"
FAST_ADVERTISING_US = 100000  # 100 ms: pairing mode and the first 30 s after a disconnect (quick reconnect)
SLOW_ADVERTISING_US = 1000000  # 1 s: waiting for the phone/computer to come back, at ~0.1 mA average
FAST_ADVERTISING_MS = 30000
TICK_MS = 20
WATCHDOG_MS = 8000  # a wedged loop (radio or I2S driver stuck) reboots the earbud within 8 s
LONG_PRESS_MS = 1500
DOUBLE_PRESS_MS = 350
AMP_HANGOVER_MS = 500  # keep the amp powered briefly after the last sound, so replies in parts do not pop
CPU_BUSY_HZ = 240000000
CPU_IDLE_HZ = 80000000
BOND_STORE = "ble_secrets.json"  # aioble.security's default file, in the working directory (/)


class EarpieceApp:
    def __init__(self):
        self.hal = XiaoEsp32s3Hal()
        self.core = EarbudCore(self.hal, FIRMWARE_VERSION, MODEL)
        self.gatt = EarpieceGatt(MODEL, FIRMWARE_VERSION)
        self.connection = None
        self._cpu_hz = None
        self.watchdog = machine.WDT(timeout=WATCHDOG_MS)
        on_passkey_request(self._passkey_for)
        try:
            os.stat(BOND_STORE)
        except OSError:
            self.core.enter_pairing_mode()  # first boot, or every bond forgotten: ready to pair without a press

    # --- pairing: the earbud speaks the passkey the host asks the user to type ---
    def _passkey_for(self, _conn_handle):
        if not self.core.pairing_mode:
            return None  # only a long press lets a new host bond
        passkey = int.from_bytes(os.urandom(4), "little") % 1000000
        self.core.speak_passkey(passkey)
        return passkey

    # --- link ---
    async def link_task(self):
        slow_from = time.ticks_add(time.ticks_ms(), FAST_ADVERTISING_MS)
        while True:
            fast = self.core.pairing_mode or time.ticks_diff(slow_from, time.ticks_ms()) > 0
            try:
                connection = await self.gatt.advertise(NAME, FAST_ADVERTISING_US if fast else SLOW_ADVERTISING_US,
                                                       timeout_ms=5000)
            except asyncio.TimeoutError:
                continue  # re-evaluate fast/slow advertising
            self.connection = connection
            self.core.connected()
            await connection.disconnected(timeout_ms=None)
            self.connection = None
            self.core.disconnected()
            slow_from = time.ticks_add(time.ticks_ms(), FAST_ADVERTISING_MS)

    async def control_task(self):
        while True:
            connection, data = await self.gatt.control.written()
            if not self.gatt.link_secure(connection):
                continue  # the stack refuses insecure writes; belt and braces
            if data and data[0] == control.TYPE_HELLO:
                # MicroPython reports no CCCD writes: the host subscribes before its HELLO, so HELLO starts audio up
                self.core.set_streaming(True)
            self.core.control_written(data)
            self.flush_notifications()

    async def audio_down_task(self):
        while True:
            connection, data = await self.gatt.audio_down.written()
            if self.gatt.link_secure(connection):
                self.core.audio_down_written(data)

    def flush_notifications(self):
        self.gatt.status.write(self.core.status_value())  # the value a read returns
        connection = self.connection
        values = self.core.take_notifications()
        if not self.gatt.link_secure(connection):
            return
        for value in values:
            try:
                self.gatt.status.notify(connection, value)
            except OSError:
                break  # the stack's buffers are full or the link dropped: the host re-reads STATUS on connect

    # --- audio ---
    async def mic_task(self):
        while True:
            await asyncio.sleep_ms(TICK_MS)
            frames = self.core.mic_tick()
            connection = self.connection
            if frames and self.gatt.link_secure(connection):
                for frame in frames:
                    try:
                        self.gatt.audio_up.notify(connection, frame)
                    except OSError:
                        break  # out of ACL buffers: drop this 20 ms, the host conceals it
            self.flush_notifications()

    async def speaker_task(self):
        writer = asyncio.StreamWriter(self.hal.speaker)
        quiet_since = time.ticks_add(time.ticks_ms(), -AMP_HANGOVER_MS)
        while True:
            if self.core.speaker_busy:
                quiet_since = time.ticks_ms()
            elif time.ticks_diff(time.ticks_ms(), quiet_since) >= AMP_HANGOVER_MS:
                # nothing to play: amp off (2 uA), and no pulling of silence; the I2S driver sends zeros
                self.hal.amp_enable.value(0)
                await asyncio.sleep_ms(TICK_MS)
                continue
            self.hal.amp_enable.value(1)
            writer.write(self.core.speaker_pull(320))
            await writer.drain()  # returns when the DMA has room: this is what paces the pull at 16 kHz

    # --- user input ---
    async def button_task(self):
        pin = self.hal.button_pin
        while True:
            while pin.value():
                await asyncio.sleep_ms(20)
            pressed = time.ticks_ms()
            while not pin.value():
                await asyncio.sleep_ms(20)
                if time.ticks_diff(time.ticks_ms(), pressed) >= LONG_PRESS_MS:
                    self.core.button(control.BUTTON_LONG)
                    while not pin.value():
                        await asyncio.sleep_ms(20)
                    break
            else:
                released = time.ticks_ms()
                event = control.BUTTON_PRESS
                while time.ticks_diff(time.ticks_ms(), released) < DOUBLE_PRESS_MS:
                    await asyncio.sleep_ms(20)
                    if not pin.value():
                        event = control.BUTTON_DOUBLE
                        while not pin.value():
                            await asyncio.sleep_ms(20)
                        break
                self.core.button(event)

    async def housekeeping_task(self):
        switch = self.hal.quiet_switch()
        battery = None
        count = 0
        while True:
            await asyncio.sleep_ms(50)
            self.hal.led_update(time.ticks_ms())
            now_switch = self.hal.quiet_switch()
            if now_switch != switch:  # the switch cuts the mic's power by itself; we only follow
                switch = now_switch
                self.core.switch_changed(switch)
            count += 1
            self._set_cpu_clock()
            connection = self.connection
            if self.core.pairing_mode and connection is not None and connection.authenticated and connection.bonded:
                self.core.pairing_done(True)  # aioble records the MITM bond from the encryption-update IRQ
            if count % 20 == 0:
                self.core.housekeeping()
                if self.core.battery != battery and self.core.battery <= 100:
                    battery = self.core.battery
                    self.gatt.battery.write(bytes([battery]), send_update=True)  # notifies subscribers
                self.watchdog.feed()

    def _set_cpu_clock(self):
        # 240 MHz only while audio flows (encode + decode need ~1/3 of a core at that clock, README "MCU load");
        # 80 MHz otherwise, which roughly halves the idle current
        busy = (self.core.streaming and not self.core.quiet) or self.core.speaker_busy
        want = CPU_BUSY_HZ if busy else CPU_IDLE_HZ
        if want != self._cpu_hz:
            machine.freq(want)
            self._cpu_hz = want

    async def run(self):
        await asyncio.gather(self.link_task(), self.control_task(), self.audio_down_task(), self.mic_task(),
                             self.speaker_task(), self.button_task(), self.housekeeping_task())


def run():
    asyncio.run(EarpieceApp().run())
