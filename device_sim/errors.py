"""The one error the simulated earbud raises to its CLI."""


class EarbudError(RuntimeError):
    """The earbud cannot run (radio unreachable, bad WAV, ...): the message says what to do."""
