"""One family for every error a user can see.

Every exception class defined under `host/` derives from `EarpieceError`; its message is one line that says what
went wrong and what to do. The CLI prints it as `earpiece: <message>` and exits 1, never with a traceback.
"""


class EarpieceError(Exception):
    """An error the user can act on; `str(error)` is the one line to show them."""
