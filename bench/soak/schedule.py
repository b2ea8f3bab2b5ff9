"""The scripted day, from a seed: what each earbud's microphone says (looped) and when each fault and quiet toggle
happens.

Each earbud has a role; its mic loops `lead-in + phrase + gap`, restarting from the beginning at every new
connection (the simulated earbud's world rewinds), so the soak knows when every question was asked from the
earbud's `mic_started_at`. The soak's own actions (faults, quiet by switch and CLI, forgetting a memory) come from
`plan(...)`: every fault kind at least once, process restarts in the first half so the second half measures the
bridge that stays (its RSS growth), all at seeded times.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

LEAD_IN_S = 2.0  # the wake word model ignores the first ~1.6 s of a stream


@dataclass(frozen=True)
class Role:
    name: str
    phrases: tuple[str, ...]  # said one after another, each followed by `gap_s` of silence
    gap_s: float
    wake_pause_s: float = 0.0  # a pause after "Hey Jarvis," (as a wearer waits for the cue), when above 0


ROLES = (
    Role("clock", ("Hey Jarvis, what time is it?",), 16.0),
    Role("reminders", ("Hey Jarvis, remind me in one minute to stretch my legs.",), 34.0),
    Role("memories", ("Hey Jarvis, remember that my locker number is forty two.",
                      "Hey Jarvis, what time is it?"), 16.0),
    # "Please stop listening." (the quiet skill's words): espeak's "go quiet" reached Moonshine as "Don't lie." 23
    # times in a 50-minute soak. Said right after the wake word its first sound was clipped ("Clean top listening",
    # 4 of 5): this wearer pauses after "Hey Jarvis," as one waiting for the cue does.
    Role("quiet", ("Hey Jarvis, what time is it?", "Hey Jarvis, what time is it?",
                   "Hey Jarvis, please stop listening."), 14.0, wake_pause_s=0.5),
)

# Faults the soak injects itself (link cuts come from the radio's own schedule: --disconnect-every-s).
RESTART_FAULTS = ("bridge_kill", "startup_config", "startup_sqlite_corrupt", "startup_sqlite_locked",
                  "startup_bonds_truncated", "radio_restart_after_wake")
LATER_FAULTS = ("earbud_reboot", "lossy_link", "disk_full", "earbud_reboot")
QUIET_ACTIONS = ("quiet_switch", "quiet_cli")


@dataclass(frozen=True)
class Event:
    at_s: float  # seconds after the soak's start
    kind: str  # a fault kind, a quiet action, or "forget_memory"
    earbud: int = 0  # which earbud, where it matters


def cut_interval_s(seed: int) -> float:
    """How long the radio keeps each link before cutting it (a supervision timeout), seeded: 40-70 s."""
    return float(random.Random(seed).randint(40, 70))


def plan(minutes: float, earbuds: int, seed: int) -> list[Event]:
    """The soak's actions in time order. Runs under 6 minutes keep the kills, one start-up fault and fewer others."""
    rng = random.Random(seed)
    total = minutes * 60.0
    first_half = (40.0, max(60.0, 0.45 * total))
    second_half = (first_half[1] + 20.0, total - 45.0)
    rounds = max(1, int(minutes // 10))  # a long run repeats every fault kind once per 10 minutes
    restart = list(RESTART_FAULTS) * rounds
    later = list(LATER_FAULTS) * rounds
    if minutes < 6:  # each restart costs 20-30 s: a short run keeps the kills and one start-up fault
        restart = ["bridge_kill", "radio_restart_after_wake"] + ([rng.choice(restart[1:5])] if minutes >= 3 else [])
        later = ["earbud_reboot", "lossy_link", "disk_full"] if minutes >= 4 else ["earbud_reboot", "disk_full"]
    rng.shuffle(restart)
    rng.shuffle(later)
    events = _spread(restart, *first_half, rng) + _spread(later, *second_half, rng)
    quiet_role = [i for i in range(earbuds) if ROLES[i % len(ROLES)].name == "quiet"] or [earbuds - 1]
    toggles = max(2, int(minutes // 2))
    for index, at in enumerate(sorted(rng.uniform(30.0, total - 30.0) for _ in range(toggles))):
        events.append(Event(at, QUIET_ACTIONS[index % 2], quiet_role[0]))
    memory_role = [i for i in range(earbuds) if ROLES[i % len(ROLES)].name == "memories"]
    if memory_role:
        for at in (0.5 * total, 0.8 * total):
            events.append(Event(at, "forget_memory", memory_role[0]))
    return sorted(events, key=lambda event: event.at_s)


def _spread(kinds: list[str], start: float, end: float, rng: random.Random) -> list[Event]:
    """One event per kind, evenly spaced over [start, end] with seeded jitter, on a seeded earbud."""
    if not kinds:
        return []
    step = max(1.0, (end - start) / len(kinds))
    return [Event(start + index * step + rng.uniform(0, 0.3 * step), kind, rng.randrange(1 << 16))
            for index, kind in enumerate(kinds)]
