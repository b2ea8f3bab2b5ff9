"""`earpiece ask`, `earpiece memory …` and `earpiece reminders …`: in-process through host.cli.main, and once as
a real process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from host.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_ask_remember_recall_forget_with_json(capsys):
    code, out, _ = run(capsys, "ask", "remember that my sister's birthday is on May 3rd", "--json")
    answer = json.loads(out)
    assert code == 0 and answer["skill"] == "remember"
    assert answer["actions"] == [{"type": "Remember", "text": "Your sister's birthday is on May 3rd.",
                                  "said": "remember that my sister's birthday is on May 3rd"}]
    assert run(capsys, "ask", "When is my sister's birthday?")[1] == "Your sister's birthday is on May 3rd.\n"

    facts = json.loads(run(capsys, "memory", "list", "--json")[1])["facts"]
    assert [f["text"] for f in facts] == ["Your sister's birthday is on May 3rd."]
    found = json.loads(run(capsys, "memory", "search", "birthday", "--json")[1])["facts"]
    assert [f["id"] for f in found] == [facts[0]["id"]]
    exported = json.loads(run(capsys, "memory", "export")[1])
    assert exported["facts"][0]["said"] == "remember that my sister's birthday is on May 3rd"
    assert [t["user"] for t in exported["history"]][:1] == ["remember that my sister's birthday is on May 3rd"]

    code, out, _ = run(capsys, "memory", "forget", str(facts[0]["id"]), "--json")
    assert code == 0 and json.loads(out)["forgotten"] == 1
    assert "haven't told me" in run(capsys, "ask", "what did I tell you about my sister")[1]
    code, _, err = run(capsys, "memory", "forget", str(facts[0]["id"]))
    assert code == 1 and err.count("\n") == 1 and "earpiece memory list" in err


def test_forget_all_asks_unless_yes(capsys, monkeypatch):
    run(capsys, "ask", "my sister is called Amy")
    monkeypatch.setattr("sys.stdin", open(os.devnull))
    code, _, err = run(capsys, "memory", "forget", "--all")
    assert code == 2 and "--yes" in err
    code, out, _ = run(capsys, "memory", "forget", "--all", "--yes", "--json")
    assert code == 0 and json.loads(out) == {"forgotten": 1, "all": True}
    assert json.loads(run(capsys, "memory", "list", "--json")[1]) == {"facts": []}


def test_reminders_list_and_cancel(capsys):
    assert "remind you to call your mom" in run(capsys, "ask", "remind me to call my mom at 5 pm",
                                                "--device", "Earpiece 1")[1]
    reminders = json.loads(run(capsys, "reminders", "list", "--json")[1])["reminders"]
    assert [(r["label"], r["device"]) for r in reminders] == [("call your mom", "Earpiece 1")]
    code, out, _ = run(capsys, "reminders", "cancel", str(reminders[0]["id"]))
    assert code == 0 and out.startswith("Cancelled: call your mom")
    assert run(capsys, "reminders", "list")[1] == "No reminders.\n"
    code, _, err = run(capsys, "reminders", "cancel", "99")
    assert code == 1 and "no reminder with id 99" in err


def test_a_damaged_memory_file_is_one_line_and_kept(capsys, isolated_home):
    file = isolated_home / "data" / "companion.sqlite3"
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_bytes(b"garbage" * 100)
    code, _, err = run(capsys, "memory", "list")
    assert code == 1 and err.count("\n") == 1 and "damaged" in err and str(file) in err
    assert file.read_bytes() == b"garbage" * 100


def test_help_teaches(capsys):
    import pytest

    with pytest.raises(SystemExit):
        main(["memory", "--help"])
    out = capsys.readouterr().out
    assert "earpiece memory export > me.json" in out and "forget --all" in out


@pytest.mark.e2e  # starts processes
def test_ask_as_a_process_round_trip(isolated_home):
    env = {**os.environ, "EARPIECE_HOME": str(isolated_home)}
    command = [str(Path(sys.executable).with_name("earpiece"))]  # the installed command a user runs
    told = subprocess.run(command + ["ask", "I'm allergic to peanuts", "--json"], env=env, capture_output=True,
                          text=True, timeout=120)
    assert told.returncode == 0, told.stderr
    assert json.loads(told.stdout)["text"] == "Okay, I'll remember that you're allergic to peanuts."
    asked = subprocess.run(command + ["ask", "what am I allergic to?"], env=env, capture_output=True, text=True,
                           timeout=120)
    assert asked.returncode == 0 and asked.stdout == "You're allergic to peanuts.\n"
