"""Keep key material out of the logs: Bumble's loggers print keys at DEBUG level.

Bumble logs HCI commands (e.g. LE Enable Encryption with the long-term key, the resolving list with IRKs), SMP
PDUs (distributed LTK/IRK), raw ACL PDUs (which carry SMP in plain text), TK, DH key and the typed passkey.
`earpiece -vv` must stay safe to paste into a bug report, so every record from a `bumble` logger passes through
a filter that replaces long hex runs (16 bytes and more: every key) and passkey digits with a marker.
"""

from __future__ import annotations

import logging
import re

REDACTED = "<redacted>"
_LONG_HEX = re.compile(r"(?i)(?<![0-9a-f])(?:[0-9a-f]{2}[:\- ]?){16,}")
_BYTES_REPR = re.compile(r"b(['\"])(?:\\x[0-9a-f]{2}|[^'\"\\]|\\.){16,}?\1", re.IGNORECASE)
_PASSKEY = re.compile(r"(?i)((?:passkey|pin code|user input|number)\D{0,3})\d{4,6}")


def redact(text: str) -> str:
    text = _BYTES_REPR.sub(REDACTED, text)
    text = _LONG_HEX.sub(REDACTED, text)
    return _PASSKEY.sub(lambda m: m.group(1) + REDACTED, text)


class RedactKeys(logging.Filter):
    """Rewrites a record's message with key material redacted (never drops the record)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: let logging report it as usual
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


_FILTER = RedactKeys()


def protect_bumble_logs() -> None:
    """Install the filter on every `bumble` logger that exists now (call again after importing more of Bumble).

    A logger's filters see only records logged to that very logger, not those propagated from its children,
    hence one filter per logger."""
    for name, logger in list(logging.Logger.manager.loggerDict.items()):
        if (name == "bumble" or name.startswith("bumble.")) and isinstance(logger, logging.Logger):
            if _FILTER not in logger.filters:
                logger.addFilter(_FILTER)
