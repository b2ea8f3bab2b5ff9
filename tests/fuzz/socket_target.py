"""Fuzz target: the bridge's control socket, served by the real ControlServer and the real Bridge.handle_request
(a bridge with no earbuds, its registry in a temporary folder) in an event loop of its own thread.

Each example is a few request lines sent on one connection each; every one must get exactly one JSON line back
with a boolean "ok" (errors as one line), and no request may make the handler raise ("control request failed")."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import tempfile
import threading
from pathlib import Path

from hypothesis import strategies as st

_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20))
_JSON = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                                           max_size=3), max_leaves=8)


def request_lines() -> st.SearchStrategy[list[bytes]]:
    shaped = st.fixed_dictionaries({"cmd": st.sampled_from(["status", "quiet", "forget", "enroll", "nope"]) | _JSON},
                                   optional={"device": _JSON, "quiet": _JSON, "address": _JSON})
    line = st.one_of(shaped.map(lambda obj: json.dumps(obj).encode()), _JSON.map(lambda v: json.dumps(v).encode()),
                     st.binary(max_size=120).map(lambda b: b.replace(b"\n", b" ")))
    return st.lists(line, min_size=1, max_size=4)


class _Failures(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record.getMessage() + (f": {record.exc_info[1]!r}" if record.exc_info else ""))


class SocketServer:
    """The bridge's control socket in a thread; `ask(line)` -> the raw response bytes."""

    def __init__(self) -> None:
        from host.bridge.bridge import Bridge
        from host.bridge.control_socket import ControlServer
        from host.link.registry import DeviceRegistry

        self.folder = Path(tempfile.mkdtemp(prefix="earpiece-fuzz-socket-"))
        self.bridge = Bridge(None, registry=DeviceRegistry(self.folder / "devices.sqlite3"), devices=[],
                             control_server=False)
        self.server = ControlServer(self.bridge.handle_request, self.folder / "run" / "bridge.sock")
        self.failures = _Failures()
        logging.getLogger("host.bridge").addHandler(self.failures)
        self.loop = asyncio.new_event_loop()
        started = threading.Event()

        def serve() -> None:
            asyncio.set_event_loop(self.loop)
            self.loop.run_until_complete(self.server.start())
            started.set()
            self.loop.run_forever()

        self.thread = threading.Thread(target=serve, name="fuzz-control-socket", daemon=True)
        self.thread.start()
        started.wait(10)

    def ask(self, line: bytes, timeout: float = 10.0) -> bytes:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(str(self.server.path))
            sock.sendall(line + b"\n")
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
            return data

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.server.close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        logging.getLogger("host.bridge").removeHandler(self.failures)


_server: SocketServer | None = None


def server() -> SocketServer:
    global _server
    if _server is None:
        _server = SocketServer()
    return _server


def check_control_socket(lines: list[bytes]) -> None:
    serving = server()
    for line in lines:
        before = len(serving.failures.records)
        response = serving.ask(line)
        assert response.endswith(b"\n") and response.count(b"\n") == 1, f"not one line: {response[:200]!r}"
        answer = json.loads(response)
        assert isinstance(answer, dict) and isinstance(answer.get("ok"), bool), answer
        if not answer["ok"]:
            assert isinstance(answer.get("error"), str) and "\n" not in answer["error"], answer
        assert len(serving.failures.records) == before, serving.failures.records[before:]
