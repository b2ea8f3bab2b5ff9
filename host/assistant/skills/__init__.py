"""The assistant's skills, asked in this order; the first that answers wins. Add a skill: one file, one line."""

from host.assistant.skills.battery import BatterySkill
from host.assistant.skills.date import DateSkill
from host.assistant.skills.forget import ForgetSkill
from host.assistant.skills.offline import OfflineSkill
from host.assistant.skills.quiet import QuietSkill
from host.assistant.skills.recall import RecallSkill
from host.assistant.skills.remember import RememberSkill
from host.assistant.skills.reminders import ReminderSkill
from host.assistant.skills.repeat import RepeatSkill
from host.assistant.skills.time import TimeSkill
from host.assistant.skills.timer import TimerSkill

SKILLS = [
    ReminderSkill(),  # before TimerSkill: "remind me in ten minutes to call mom" is a reminder, not a timer
    TimerSkill(),  # before TimeSkill: "timer" contains "time"
    TimeSkill(),
    DateSkill(),
    QuietSkill(),
    RepeatSkill(),
    BatterySkill(),
    OfflineSkill(),  # weather and news: no model may make them up
    ForgetSkill(),  # memory last: "my battery is low" is about the earbud, not a fact to keep
    RememberSkill(),
    RecallSkill(),  # last: it answers questions about the user only when a kept fact matches
]
