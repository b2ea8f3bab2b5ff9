"""The local engine: a GGUF chat model run in this process by llama.cpp (llama-cpp-python).

One `Llama` object lives as long as the engine, so llama.cpp keeps the evaluated prompt between turns: a new
prompt that starts like the last one (the same system prompt, the history so far) is evaluated only from where it
differs, which is what makes later turns answer quickly. Threads are always set explicitly, the same for reading
the prompt and for generating: llama.cpp's default batch threads (every core) crawled when the machine was busy."""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path
from typing import Iterator

from host.companion.conversation.base import TEMPERATURE, ConversationEngine, ConversationError
from host.models import ModelError

log = logging.getLogger(__name__)

CONTEXT_TOKENS = 2048  # persona + a few facts + the last turns fit; more only costs memory and prompt time


class LocalEngine(ConversationEngine):
    name = "local"

    def __init__(self, model_path: Path, threads: int = 2, max_tokens: int = 160, context_tokens: int = CONTEXT_TOKENS):
        # llama.cpp's OpenMP threads spin while they wait for each other; on a busy 2-core machine that made two
        # threads three times slower than one. Passive waiting keeps two threads the faster choice (read when
        # llama.cpp's OpenMP library loads, so before the import).
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        try:
            from llama_cpp import Llama
        except ImportError:
            raise ConversationError("llama-cpp-python is not installed: run `make setup` (or pip install "
                                    "llama-cpp-python), or set [assistant] engine = \"openai\" or \"off\"") from None
        self.model = Path(model_path).name
        self.max_tokens = max_tokens
        self._lock = threading.Lock()
        started = time.monotonic()
        try:
            self._llama = Llama(model_path=str(model_path), n_ctx=context_tokens, n_threads=threads,
                                n_threads_batch=threads, n_batch=256, verbose=False)
        except (ValueError, RuntimeError) as error:  # llama.cpp says only "Failed to load model from file"
            raise ModelError(f"conversation model {model_path} cannot be loaded ({error}): "
                             f"run `earpiece models install --force`") from None
        self.load_s = time.monotonic() - started
        log.info("conversation model %s loaded in %.1f s (%d thread%s)", self.model, self.load_s, threads,
                 "" if threads == 1 else "s")

    def stream(self, messages: list[dict], max_tokens: int | None = None) -> Iterator[str]:
        with self._lock:
            if self._llama is None:
                raise ConversationError("the conversation engine was closed: restart the bridge")
            chunks = self._llama.create_chat_completion(messages=messages, max_tokens=max_tokens or self.max_tokens,
                                                        temperature=TEMPERATURE, top_p=0.9, stream=True)
            try:
                for chunk in chunks:
                    delta = chunk["choices"][0]["delta"].get("content")
                    if delta:
                        yield delta
            except ValueError as error:  # e.g. the prompt does not fit the context
                raise ConversationError(f"the conversation model refused the prompt ({error}): "
                                        f"fewer history turns or memory facts would fit") from None
            finally:
                chunks.close()  # stops llama.cpp generating the rest

    def warm_up(self, system_prompt: str) -> None:
        started = time.monotonic()
        for _ in self.stream([{"role": "system", "content": system_prompt}, {"role": "user", "content": "Hi."}],
                             max_tokens=1):
            pass
        log.info("conversation model read the system prompt in %.1f s", time.monotonic() - started)

    def close(self) -> None:
        # A reply still streaming in another thread must not lose its model mid-token: wait for it a little.
        if not self._lock.acquire(timeout=5.0):
            log.warning("conversation model still busy at close: left to the garbage collector")
            return
        try:
            llama, self._llama = self._llama, None
            if llama is not None:
                llama.close()
        finally:
            self._lock.release()
