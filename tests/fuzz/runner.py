"""Run a fuzz target for a time budget with hypothesis: executions and crashes (distinct by exception type and
place), each with the smallest input hypothesis found for it."""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass, field

from hypothesis import HealthCheck, Phase, given, settings

BATCH_EXAMPLES = 200


@dataclass
class Outcome:
    target: str
    executions: int = 0
    seconds: float = 0.0
    crashes: dict[str, str] = field(default_factory=dict)  # signature -> a reproducing input and the error

    def to_json(self) -> dict:
        return {"target": self.target, "executions": self.executions, "seconds": round(self.seconds, 1),
                "new_crashes": len(self.crashes), "crashes": self.crashes}


def fuzz(target, seconds: float | None = None, max_examples: int | None = None) -> Outcome:
    """Run `target` in batches until `seconds` pass (or `max_examples` executions, whichever is given)."""
    outcome = Outcome(target.name)
    start = time.monotonic()
    box = {"last": None}

    def make_body():
        def body(value):
            box["last"] = value
            outcome.executions += 1
            target.check(value)
        return body

    budget = max_examples or BATCH_EXAMPLES
    while True:
        batch = min(BATCH_EXAMPLES, budget - outcome.executions) if max_examples else BATCH_EXAMPLES
        if batch <= 0:
            break
        run = given(target.strategy)(settings(max_examples=batch, deadline=None, database=None,
                                              phases=(Phase.generate, Phase.target, Phase.shrink),
                                              suppress_health_check=list(HealthCheck), print_blob=False,
                                              report_multiple_bugs=False)(make_body()))
        try:
            run()
        except Exception as error:  # noqa: BLE001 — a crash: keep it, and go on looking for others
            frame = traceback.extract_tb(error.__traceback__)[-1]
            signature = f"{type(error).__name__} at {frame.filename.rsplit('/', 2)[-1]}:{frame.lineno}"
            outcome.crashes.setdefault(signature, f"{str(error)[:300]} <- input {box['last']!r:.300}")
        if seconds is not None and time.monotonic() - start >= seconds:
            break
        if seconds is None and max_examples is None:
            break
    outcome.seconds = time.monotonic() - start
    return outcome
