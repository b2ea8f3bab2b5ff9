"""The openai engine: any server that speaks OpenAI's streaming chat completions (Ollama, llama.cpp's server,
vLLM, LM Studio), over plain HTTP with the standard library.

Failures are quick and one line: nothing listening fails at once, a host that does not answer fails after
CONNECT_TIMEOUT_S, and a server that takes longer than `first_token_s` to start (or to continue) the reply fails
then; the bridge speaks a short apology and the skills keep working."""

from __future__ import annotations

import http.client
import json
import os
import socket
import threading
from typing import Iterator
from urllib.parse import urlsplit

from host.companion.conversation.base import TEMPERATURE, ConversationEngine, ConversationError

CONNECT_TIMEOUT_S = 2.0


class OpenAIEngine(ConversationEngine):
    name = "openai"

    def __init__(self, url: str, model: str = "", api_key_env: str = "", max_tokens: int = 160,
                 first_token_s: float = 8.0):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConversationError(f"[assistant] url must be like http://127.0.0.1:8080/v1, got {url!r}")
        self.url = url.rstrip("/")
        self.model = model or "default"
        self.max_tokens = max_tokens
        self.first_token_s = first_token_s
        self._parts = parts
        self._headers = {"Content-Type": "application/json", "Accept": "text/event-stream"}
        if api_key_env:
            key = os.environ.get(api_key_env)
            if not key:
                raise ConversationError(f"[assistant] api_key_env names {api_key_env}, which is not set: set it, "
                                        f"or empty api_key_env for a server without a key")
            self._headers["Authorization"] = f"Bearer {key}"
        self._lock = threading.Lock()

    def stream(self, messages: list[dict]) -> Iterator[str]:
        body = json.dumps({"model": self.model, "messages": messages, "max_tokens": self.max_tokens,
                           "temperature": TEMPERATURE, "stream": True}).encode()
        with self._lock:
            connection = self._connect()
            try:
                response = self._post(connection, body)
                for event in self._events(response):
                    if event == "[DONE]":
                        return
                    delta = _delta_text(event, self.url)
                    if delta:
                        yield delta
            finally:
                connection.close()  # the server stops generating when the client goes away

    def _connect(self) -> http.client.HTTPConnection:
        kind = http.client.HTTPSConnection if self._parts.scheme == "https" else http.client.HTTPConnection
        connection = kind(self._parts.hostname, self._parts.port, timeout=CONNECT_TIMEOUT_S)
        try:
            connection.connect()
        except OSError as error:
            raise ConversationError(f"cannot reach the assistant server at {self.url} ({_reason(error)}): start "
                                    f"it, or fix [assistant] url") from None
        connection.sock.settimeout(self.first_token_s)  # from here on: the budget to start (and continue) a reply
        return connection

    def _post(self, connection: http.client.HTTPConnection, body: bytes) -> http.client.HTTPResponse:
        path = (self._parts.path.rstrip("/") or "") + "/chat/completions"
        try:
            connection.request("POST", path, body=body, headers=self._headers)
            response = connection.getresponse()
        except OSError as error:
            raise self._failed(error) from None
        if response.status != 200:
            detail = " ".join(response.read(300).decode("utf-8", "replace").split())
            raise ConversationError(f"the assistant server at {self.url} answered HTTP {response.status} "
                                    f"({detail or response.reason}): check [assistant] url and model")
        return response

    def _events(self, response: http.client.HTTPResponse) -> Iterator[str]:
        """The `data:` payloads of a server-sent event stream."""
        while True:
            try:
                line = response.readline()
            except OSError as error:
                raise self._failed(error) from None
            if not line:
                return
            line = line.strip()
            if line.startswith(b"data:"):
                yield line[5:].strip().decode("utf-8", "replace")

    def _failed(self, error: OSError) -> ConversationError:
        if isinstance(error, (socket.timeout, TimeoutError)):
            return ConversationError(f"the assistant server at {self.url} did not answer within {self.first_token_s:g} "
                                     f"s: use a smaller model or raise [assistant] first_token_s")
        return ConversationError(f"the assistant server at {self.url} failed ({_reason(error)}): check that it is "
                                 f"running")


def _delta_text(event: str, url: str) -> str:
    try:
        data = json.loads(event)
    except json.JSONDecodeError:
        raise ConversationError(f"the assistant server at {url} sent something that is not a chat completion "
                                f"stream: check [assistant] url (it should end in /v1)") from None
    if "error" in data:
        message = data["error"].get("message", data["error"]) if isinstance(data["error"], dict) else data["error"]
        raise ConversationError(f"the assistant server at {url} failed: {' '.join(str(message).split())}")
    choices = data.get("choices") or [{}]
    return (choices[0].get("delta") or {}).get("content") or ""


def _reason(error: OSError) -> str:
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    if isinstance(error, (socket.timeout, TimeoutError)):
        return f"no answer within {CONNECT_TIMEOUT_S:g} s"
    return error.strerror or type(error).__name__
