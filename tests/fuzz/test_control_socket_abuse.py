"""The control socket under abuse (the fuzz target's server: the real ControlServer and Bridge.handle_request):
a 10 MB line, a client that trickles, clients that never read — each gets one line or is dropped, and a normal
request is still answered at once."""

from __future__ import annotations

import json
import socket
import time

import pytest

from tests.fuzz.socket_target import SocketServer


@pytest.fixture(scope="module")
def serving():
    server = SocketServer()
    yield server
    server.close()


def _connect(serving) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(10)
    sock.connect(str(serving.server.path))
    return sock


def _status_s(serving) -> float:
    start = time.monotonic()
    answer = json.loads(serving.ask(b'{"cmd": "status", "device": null}'))
    assert answer == {"ok": True, "devices": []}
    return time.monotonic() - start


def test_a_10_mb_line_is_refused_as_too_long(serving):
    with _connect(serving) as sock:
        try:
            sock.sendall(b"x" * 10_000_000 + b"\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may answer and close before it has read it all
        response = sock.makefile("rb").readline()
    assert json.loads(response) == {"ok": False, "error": "request too long (at most 65536 bytes)"}
    assert not serving.failures.records


def test_a_trickling_client_does_not_hold_up_the_others(serving):
    with _connect(serving) as slow:
        slow.sendall(b'{"cmd": "sta')  # ... and nothing more for now
        assert _status_s(serving) < 1.0
        slow.sendall(b'tus"}\n')
        assert json.loads(slow.makefile("rb").readline())["ok"] is True


def test_clients_that_never_read_do_not_hold_up_the_others(serving):
    idle = [_connect(serving) for _ in range(100)]
    try:
        for sock in idle:
            sock.sendall(b'{"cmd": "status", "device": null}\n')  # answers they never read
        assert _status_s(serving) < 1.0
    finally:
        for sock in idle:
            sock.close()
    assert not serving.failures.records
