"""What a skill may know besides the words: the time, the last reply, the earbud's latest status."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class Context:
    now: datetime = field(default_factory=lambda: datetime.now().astimezone())
    """Local time of the request."""
    last_reply: str | None = None
    """What the companion said last (for "repeat that")."""
    battery: int | None = None
    """Earbud battery percent from the latest Status (None: not known yet)."""
    charging: bool = False
    """Whether the earbud is charging (latest Status)."""
