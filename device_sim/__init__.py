"""The simulated earbud: the firmware's portable core on CPython, on a virtual Bluetooth radio."""

__version__ = "0.1.0"
