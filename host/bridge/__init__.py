"""The bridge: every paired earbud kept connected, one conversation each, and the local control socket."""
