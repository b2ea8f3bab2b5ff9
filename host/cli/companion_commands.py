"""`earpiece ask`, `earpiece memory …`, `earpiece reminders …`: the companion by keyboard, and what it keeps."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from datetime import datetime

from host.cli.enroll_command import add_voice_action
from host.cli.output import CliError, add_json_flag, emit, log

ASK_HELP = """\
Type what you would say into the earbud; the same assistant answers (same skills, memory and reminders) and the
reply is printed. Facts and reminders it is asked to keep are kept; quiet and timers need the running bridge.

  earpiece ask "remember that my sister's birthday is on May third"
  earpiece ask "when is my sister's birthday?"
  earpiece ask "remind me to call mom at 5 pm" --device "Earpiece 1"
"""
MEMORY_HELP = """\
What the companion remembers is yours: facts you asked it to keep ("remember that…", "my sister is called Amy")
and, for a day by default ([memory] history_days), the recent conversation. All of it lives in one SQLite file in
your data folder; `export` prints it all as JSON you can keep.

  earpiece memory list              every fact, with its id
  earpiece memory search birthday   facts about something (by meaning and by words)
  earpiece memory export > me.json  everything kept, as readable JSON
  earpiece memory forget 3          forget one fact;  forget --all  forgets every fact and the history
  earpiece memory voice             the voiceprint `earpiece enroll` kept;  voice --forget  deletes it
"""
REMINDERS_HELP = """\
Reminders you asked for ("remind me to call mom at 5 pm"). The running bridge says them in your ear when they fall
due, late with an apology if it was not running then.
"""


def register(subparsers) -> None:
    ask = subparsers.add_parser("ask", help="type to the companion and print its reply", description=ASK_HELP,
                                formatter_class=_raw())
    ask.add_argument("text", help="what you would say")
    ask.add_argument("--device", help="answer as if said into this earbud (its history, its reminders)")
    add_json_flag(ask)
    ask.set_defaults(func=cmd_ask)

    memory = subparsers.add_parser("memory", help="list, search, export or forget what the companion remembers",
                                   description=MEMORY_HELP, formatter_class=_raw())
    actions = memory.add_subparsers(dest="memory_command", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="every fact, with its id, when and how it was said")
    add_json_flag(listing)
    listing.set_defaults(func=cmd_memory_list)
    search = actions.add_parser("search", help="the facts about TEXT, best first")
    search.add_argument("query", metavar="TEXT")
    add_json_flag(search)
    search.set_defaults(func=cmd_memory_search)
    export = actions.add_parser("export", help="everything kept (facts, history, reminders) as JSON")
    export.add_argument("--json", action="store_true", help="one line instead of indented")
    export.set_defaults(func=cmd_memory_export)
    forget = actions.add_parser("forget", help="forget one fact by id, or everything with --all")
    forget.add_argument("id", nargs="?", type=int, help="the fact's id (see `earpiece memory list`)")
    forget.add_argument("--all", action="store_true", help="forget every fact and the conversation history")
    forget.add_argument("--yes", action="store_true", help="with --all: do not ask for confirmation")
    add_json_flag(forget)
    forget.set_defaults(func=cmd_memory_forget)
    add_voice_action(actions)  # earpiece memory voice: the voiceprint `earpiece enroll` kept

    reminders = subparsers.add_parser("reminders", help="list or cancel reminders", description=REMINDERS_HELP,
                                      formatter_class=_raw())
    actions = reminders.add_subparsers(dest="reminders_command", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="reminders still to ring, soonest first")
    add_json_flag(listing)
    listing.set_defaults(func=cmd_reminders_list)
    cancel = actions.add_parser("cancel", help="cancel a reminder by id")
    cancel.add_argument("id", type=int, help="the reminder's id (see `earpiece reminders list`)")
    add_json_flag(cancel)
    cancel.set_defaults(func=cmd_reminders_cancel)


def _raw():
    import argparse

    return argparse.RawDescriptionHelpFormatter


def _companion():
    from host.cli.config_commands import load_config
    from host.companion import load_companion

    return load_companion(load_config())


def cmd_ask(args) -> int:
    from host.cli.config_commands import load_config
    from host.companion import load_companion

    companion = load_companion(load_config(), conversation=True)
    try:
        reply = _answer(companion, args.text, args.device)
    finally:
        if companion.conversation is not None:
            companion.conversation.close()
    others = companion.carry_out(reply, args.device)
    companion.record_turn(args.device, args.text, reply)
    for action in others:
        log(f"earpiece: not done here: {type(action).__name__} (needs the running bridge)")
    emit(args, {"text": reply.text, "skill": reply.skill, "device": args.device,
                "actions": [{"type": type(a).__name__, **_plain(asdict(a))} for a in reply.actions]}, reply.text)
    return 0


def cmd_memory_list(args) -> int:
    facts = _companion().memory.all()
    emit(args, {"facts": [f.to_dict() for f in facts]}, _facts_text(facts) or "Nothing remembered yet.")
    return 0


def cmd_memory_search(args) -> int:
    facts = _companion().memory.search(args.query)
    emit(args, {"query": args.query, "facts": [f.to_dict() for f in facts]},
         _facts_text(facts) or f"Nothing remembered about {args.query!r}.")
    return 0


def cmd_memory_export(args) -> int:
    companion = _companion()
    data = {"earpiece_memory": 1, **companion.memory.export(),
            "reminders": [r.to_dict() for r in companion.reminders.all()]}
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=None if args.json else 2) + "\n")
    return 0


def cmd_memory_forget(args) -> int:
    memory = _companion().memory
    if args.all == (args.id is not None):
        raise CliError("say which: `earpiece memory forget ID` (see `earpiece memory list`) or "
                       "`earpiece memory forget --all`", exit_code=2)
    if args.all:
        if not args.yes:
            if not sys.stdin.isatty():
                raise CliError("forgetting everything needs confirmation: add --yes", exit_code=2)
            answer = input(f"Forget every fact and the conversation history in {memory.path}? [y/N] ")
            if answer.strip().lower() not in ("y", "yes"):
                raise CliError("nothing forgotten")
        count = memory.forget_all()
        emit(args, {"forgotten": count, "all": True}, f"Forgot {count} fact{'s' if count != 1 else ''} "
                                                      "and the conversation history.")
        return 0
    fact = memory.forget(args.id)
    if fact is None:
        raise CliError(f"no fact with id {args.id}; see `earpiece memory list`")
    emit(args, {"forgotten": 1, "fact": fact.to_dict()}, f"Forgot: {fact.text}")
    return 0


def _answer(companion, text: str, device: str | None):
    """The skills' reply, or the conversation model's for what they don't answer (as the bridge does)."""
    from host.assistant.reply import Reply
    from host.companion.conversation.sentences import speakable

    reply = companion.respond(text, device)
    if reply.skill != "fallback" or not text.strip() or companion.conversation is None:
        return reply
    answer = speakable(companion.conversation.reply(companion.messages(text, device)))
    return Reply(answer, skill="conversation") if answer else reply


def cmd_reminders_list(args) -> int:
    upcoming = _companion().reminders.upcoming()
    now = datetime.now().astimezone()
    text = "\n".join(f"{r.id:>4}  {r.due_at:%Y-%m-%d %H:%M}  {r.label}" + (" (overdue)" if r.due_at <= now else "")
                     for r in upcoming)
    emit(args, {"reminders": [r.to_dict() for r in upcoming]}, text or "No reminders.")
    return 0


def cmd_reminders_cancel(args) -> int:
    reminder = _companion().reminders.cancel(args.id)
    if reminder is None:
        raise CliError(f"no reminder with id {args.id}; see `earpiece reminders list`")
    emit(args, {"cancelled": reminder.to_dict()}, f"Cancelled: {reminder.label} ({reminder.due_at:%Y-%m-%d %H:%M})")
    return 0


def _facts_text(facts) -> str:
    return "\n".join(f"{f.id:>4}  {f.created_at:%Y-%m-%d %H:%M}  {f.text}" for f in facts)


def _plain(values: dict) -> dict:
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in values.items()}
