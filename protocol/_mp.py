"""`micropython` on MicroPython; on CPython a stand-in whose decorators change nothing.

Use as `from protocol._mp import micropython, ptr8` then `@micropython.viper` / `@micropython.native`.
MicroPython's compiler recognises these decorators and the viper annotations (`buf: ptr8`) by their spelling at
compile time, so the same source becomes machine code on the device and plain Python on CPython. `ptr8` exists
as a name only so that CPython can evaluate the annotations; viper ignores the global.
"""
import sys

# Decided by the interpreter, not by whether `import micropython` succeeds: on CPython a folder of that name on
# sys.path (e.g. tests/micropython) would otherwise pass for the real module.
if sys.implementation.name == "micropython":
    import micropython
else:

    class micropython:  # noqa: N801 -- mirrors the MicroPython module's name
        @staticmethod
        def native(function):
            return function

        @staticmethod
        def viper(function):
            return function

        @staticmethod
        def const(value):
            return value


class ptr8:  # noqa: N801 -- the viper type's name
    """Annotation stand-in: a buffer indexed byte by byte (bytes/bytearray on CPython)."""
