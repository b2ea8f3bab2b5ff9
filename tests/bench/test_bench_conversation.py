"""The conversation benchmark's scripts and arithmetic (no processes, no model)."""

from __future__ import annotations

from bench.bench_conversation import FULL, QUICK, analyse, reminders_listed, scripts


def test_facts_told_before_the_restart_are_asked_back_after_it():
    before, after = scripts(FULL)
    told = [q for q in before if q.kind == "fact"]
    asked = [q for q in after if q.kind == "recall"]
    assert len(told) == len(asked) == FULL["facts"] and all(q.key for q in asked)
    assert all(q.text.startswith("remember that ") for q in told)
    assert sum(q.kind == "open" for q in before + after) == FULL["open"]
    assert [q.kind for q in after].count("list") == 1
    assert len(before) + len(after) <= 50
    quick_before, quick_after = scripts(QUICK)
    assert len(quick_before) + len(quick_after) <= 7


def turn(kind: str, ms: float | None, skill: str | None, reply: str | None, key: str = "") -> dict:
    return {"kind": kind, "text": "", "key": key, "ms": ms, "skill": skill, "transcript": "", "reply": reply}


def test_model_and_skill_turns_are_figured_apart_and_recall_counts_the_key_word():
    turns = [turn("fact", 400.0, "remember", "Okay."), turn("open", 900.0, "conversation", "Fine, thanks."),
             turn("open", 1100.0, "conversation", "Whiskers."), turn("open", None, None, None),
             turn("recall", 500.0, "recall", "Your dog is called Rex.", "rex"),
             turn("recall", 950.0, "conversation", "I don't know.", "amy"),
             turn("list", 300.0, "reminders", "You have 2 reminders: call mom, and water the plants.")]
    section = analyse(turns)
    assert section["model_turn_ms"] == {"p50": 950.0, "p95": 1085.0, "n": 3}
    assert section["skill_turn_ms"]["n"] == 3 and section["unanswered"] == 1
    assert section["recall"] == 0.5 and section["recall_answered"] == 2
    assert reminders_listed(turns, ("call mom", "water the plants", "buy some bread")) == round(2 / 3, 3)


def test_a_smaller_budget_asks_fewer_questions():
    from bench.bench_conversation import BUDGET_S, fit

    assert fit(FULL, BUDGET_S) == FULL
    assert fit(FULL, BUDGET_S / 2)["open"] < FULL["open"]
    assert fit(FULL, 10.0) == QUICK
