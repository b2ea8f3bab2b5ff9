"""How every `earpiece` command talks to the terminal.

Conventions: with --json a command prints exactly one JSON object on one line to stdout; logs and progress go to
stderr; a failure raises CliError, which `main` turns into a one-line message and a non-zero exit.
"""

import json
import sys

from host.errors import EarpieceError


class CliError(EarpieceError):
    """A failure the user can act on. The message says what went wrong and what to do."""

    def __init__(self, message: str, exit_code: int = 1):
        super().__init__(message)
        self.exit_code = exit_code


def emit(args, obj: dict, text: str | None = None) -> None:
    """Print a command's result: one JSON line with --json, otherwise `text` (or the object, readably)."""
    if getattr(args, "json", False):
        sys.stdout.write(json.dumps(obj, sort_keys=False, default=str) + "\n")
    elif text is not None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    else:
        for key, value in obj.items():
            sys.stdout.write(f"{key}: {value}\n")
    sys.stdout.flush()


def log(message: str) -> None:
    """Progress and diagnostics: always stderr, so stdout stays machine-readable."""
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


def add_json_flag(parser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object on one line to stdout")
