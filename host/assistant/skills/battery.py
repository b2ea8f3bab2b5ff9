"""'How's my battery?' — from the earbud's latest Status."""

from host.assistant.context import Context
from host.assistant.reply import Reply


class BatterySkill:
    name = "battery"

    def answer(self, words: str, context: Context) -> Reply | None:
        if "battery" not in words.split() and "charge" not in words.split():
            return None
        if context.battery is None:
            return Reply("I don't know the battery level yet. Ask me again in a moment.", skill=self.name)
        charging = ", and charging" if context.charging else ""
        low = " You might want to charge it soon." if context.battery <= 15 and not context.charging else ""
        return Reply(f"Your earbud battery is at {context.battery} percent{charging}.{low}", skill=self.name)
