"""`earpiece` — the host CLI. The only place in host/ that parses arguments or prints.

Each command group lives in its own module with a `register(subparsers)` function; this file only assembles them.
"""

import argparse
import importlib
import logging
import sys

from host import __version__
from host.errors import EarpieceError

# Command groups, in the order `earpiece --help` lists them. A module that is missing is skipped, so the CLI
# keeps working while a part is being built.
COMMAND_MODULES = [
    "host.cli.link_commands",  # scan, pair, devices, forget, status
    "host.cli.run_commands",  # run, quiet
    "host.cli.demo_command",  # demo
    "host.cli.voice_commands",  # detect, transcribe, models
    "host.cli.companion_commands",  # ask, memory, reminders
    "host.cli.enroll_command",  # enroll
    "host.cli.config_commands",  # config
]

DESCRIPTION = """\
Earpiece: a voice companion you wear in your ear. The earbud streams its microphone over Bluetooth LE to this
bridge, which listens for the wake word, understands you offline and answers in your ear.

Start here:
  earpiece demo                 try the whole system with a simulated earbud (no hardware needed)
  earpiece scan                 find earbuds in range
  earpiece pair DEVICE          pair one (it speaks a 6-digit passkey into your ear)
  earpiece run                  keep every paired earbud connected and listening
  earpiece quiet on|off         stop or resume all listening
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="earpiece", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"earpiece {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output on stderr (-vv for debug)")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as error:
            if error.name != name:
                raise
            continue
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = [logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)]
    logging.basicConfig(level=level, stream=sys.stderr, format="%(asctime)s %(name)s %(levelname)s: %(message)s")
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        result = args.func(args)
    except EarpieceError as error:  # every error a user can act on: one line, no traceback
        sys.stderr.write(f"earpiece: error: {error}\n")
        return getattr(error, "exit_code", 1)
    except KeyboardInterrupt:
        sys.stderr.write("earpiece: interrupted\n")
        return 130
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
