"""Earpiece earbud core: the board-independent firmware logic (runs on MicroPython and CPython)."""
