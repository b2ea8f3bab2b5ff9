"""'Set a timer for five minutes' — when it rings, the companion speaks up unprompted."""

from host.assistant.context import Context
from host.assistant.numbers import parse_duration, spoken_duration
from host.assistant.reply import Reply, StartTimer

MAX_TIMER_S = 24 * 3600


class TimerSkill:
    name = "timer"

    def answer(self, words: str, context: Context) -> Reply | None:
        if "timer" not in words.split() and "remind me in" not in words:
            return None
        seconds = parse_duration(words)
        if not seconds:
            return Reply("How long should the timer run? Say, for example, set a timer for five minutes.",
                         skill=self.name)
        if seconds > MAX_TIMER_S:
            return Reply("That's longer than I can keep a timer. Up to a day works.", skill=self.name)
        label = spoken_duration(seconds)
        return Reply(f"Okay, {label} timer, starting now.", actions=(StartTimer(seconds, label),), skill=self.name)


def ring_text(label: str) -> str:
    """What the companion says when a timer rings."""
    return f"Your {label} timer is done."
