"""Earpiece host bridge: Bluetooth link, voice pipeline, assistant core and the `earpiece` CLI."""

__version__ = "0.1.0"
