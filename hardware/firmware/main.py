# Boot entry point of the Earpiece earbud (MicroPython runs /main.py after boot.py).
# Everything else is precompiled in /lib (build.py). Hold the button while plugging in USB to skip the app
# and get a REPL (e.g. to update over `mpremote` without the watchdog resetting the board).
from machine import Pin

from board_esp32s3 import BUTTON

if Pin(BUTTON, Pin.IN, Pin.PULL_UP).value():
    import earpiece_app

    earpiece_app.run()
