"""The assistant's skills, asked in this order; the first that answers wins. Add a skill: one file, one line."""

from host.assistant.skills.battery import BatterySkill
from host.assistant.skills.date import DateSkill
from host.assistant.skills.quiet import QuietSkill
from host.assistant.skills.repeat import RepeatSkill
from host.assistant.skills.time import TimeSkill
from host.assistant.skills.timer import TimerSkill

SKILLS = [
    TimerSkill(),  # before TimeSkill: "timer" contains "time"
    TimeSkill(),
    DateSkill(),
    QuietSkill(),
    RepeatSkill(),
    BatterySkill(),
]
