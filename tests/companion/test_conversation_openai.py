"""The openai engine against a real OpenAI-compatible server on 127.0.0.1 (llama-cpp-python's own server with the
same small model, started as a process), and against servers that are dead, silent or wrong."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import datetime

import pytest

from host import chat_model
from host.companion.conversation import ConversationError, load_conversation_engine, sentences
from host.companion.conversation.openai_compat import OpenAIEngine
from host.companion.prompt import build_messages, load_persona
from host.config import AssistantSettings


pytestmark = pytest.mark.e2e  # starts processes

def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def server_url(models_root, tmp_path_factory):
    """http://127.0.0.1:PORT/v1 of `python -m llama_cpp.server` serving the installed conversation model."""
    chat_model.install_chat_model(models_root)
    port = free_port()
    log = tmp_path_factory.mktemp("server") / "server.log"
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(chat_model.chat_model_path(models_root)),
               "--model_alias", "earpiece-test", "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048",
               "--n_threads", "1", "--n_threads_batch", "1", "--verbose", "False"]
    with open(log, "wb") as sink:
        server = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"{url}/models", timeout=2).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"llama_cpp.server did not start: {log.read_text()[-2000:]}")
                time.sleep(0.5)
        yield url
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(10)


def ask(words: str) -> list[dict]:
    return build_messages(load_persona(), words, now=datetime(2026, 11, 30, 21, 40))


def test_a_real_server_answers_in_streamed_sentences(server_url):
    # A generous budget: the server's first prompt is read cold, and the tests share two cores with others.
    engine = load_conversation_engine(AssistantSettings(engine="openai", url=server_url, model="earpiece-test",
                                                        max_tokens=48, first_token_s=60.0))
    assert isinstance(engine, OpenAIEngine)
    said = list(sentences(engine.stream(ask("How are you today?"))))
    assert 1 <= len(said) <= 4 and sum(c.isalpha() for c in " ".join(said)) > 10, said
    engine.close()


def test_stopping_a_reply_early_leaves_the_server_ready_for_the_next(server_url):
    engine = OpenAIEngine(server_url, "earpiece-test", max_tokens=64, first_token_s=60.0)
    stream = engine.stream(ask("Tell me a long story about a dragon."))
    assert next(stream)
    stream.close()
    assert engine.reply(ask("Say hello."))


def test_nothing_listening_is_a_quick_one_line_error():
    engine = OpenAIEngine(f"http://127.0.0.1:{free_port()}/v1", "any")
    started = time.monotonic()
    with pytest.raises(ConversationError, match="cannot reach the assistant server .*connection refused") as error:
        engine.reply(ask("Hello?"))
    assert time.monotonic() - started < 3 and "\n" not in str(error.value)


def test_a_server_that_never_answers_fails_after_the_first_token_budget():
    with socket.socket() as silent:  # accepts connections (the kernel does), never says a word
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        engine = OpenAIEngine(f"http://127.0.0.1:{silent.getsockname()[1]}/v1", "any", first_token_s=1.0)
        started = time.monotonic()
        with pytest.raises(ConversationError, match="did not answer within 1 s"):
            engine.reply(ask("Hello?"))
        assert time.monotonic() - started < 3


def test_a_wrong_address_on_a_real_server_says_what_the_server_answered(server_url):
    engine = OpenAIEngine(server_url.removesuffix("/v1") + "/nope", "earpiece-test", first_token_s=60.0)
    with pytest.raises(ConversationError, match="answered HTTP 404") as error:
        engine.reply(ask("Hello?"))
    assert "\n" not in str(error.value)


def test_settings_that_cannot_work_are_refused_at_load(monkeypatch):
    with pytest.raises(ConversationError, match="url must be like"):
        OpenAIEngine("127.0.0.1:8080", "m")
    monkeypatch.delenv("EARPIECE_TEST_KEY", raising=False)
    with pytest.raises(ConversationError, match="EARPIECE_TEST_KEY, which is not set"):
        OpenAIEngine("http://127.0.0.1:8080/v1", "m", api_key_env="EARPIECE_TEST_KEY")
