"""The bridge's control socket: owner-only, one JSON request per connection, bad requests answered not fatal."""

import asyncio
import os
import shutil
import stat
import tempfile
import threading
from pathlib import Path

import pytest

from host.bridge import control_socket


@pytest.fixture
def server(tmp_path):
    """A ControlServer in its own thread's event loop, answering like a tiny bridge."""
    yield from serve(tmp_path / "run" / "bridge.sock")


@pytest.fixture
def server_others_can_reach():
    """The same, in a folder another user may traverse (pytest's own tmp folders are 0700)."""
    base = Path(tempfile.mkdtemp(prefix="earpiece-socket-test-"))
    os.chmod(base, 0o755)
    try:
        yield from serve(base / "run" / "bridge.sock")
    finally:
        shutil.rmtree(base, ignore_errors=True)


def serve(path):
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    calls = []

    async def handler(request):
        calls.append(request)
        if request.get("cmd") == "boom":
            raise RuntimeError("handler failed")
        return {"ok": True, "echo": request}

    srv = control_socket.ControlServer(handler, path)

    def run():
        asyncio.set_event_loop(loop)
        loop.run_until_complete(srv.start())
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    ready.wait(5)
    yield path, calls
    asyncio.run_coroutine_threadsafe(srv.close(), loop).result(5)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)


def test_request_and_response(server):
    path, calls = server
    assert control_socket.bridge_running(path)
    response = control_socket.request({"cmd": "status", "device": None}, path)
    assert response == {"ok": True, "echo": {"cmd": "status", "device": None}}
    assert calls == [{"cmd": "status", "device": None}]


def test_only_the_owner_can_reach_it(server):
    path, _ = server
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700


def test_a_failing_or_malformed_request_gets_an_error_and_the_server_lives(server):
    path, _ = server
    assert control_socket.request({"cmd": "boom"}, path) == {"ok": False, "error": "handler failed"}
    import socket

    with socket.socket(socket.AF_UNIX) as sock:
        sock.connect(str(path))
        sock.sendall(b"[1, 2\n")
        assert b"malformed request" in sock.recv(1000)
    assert control_socket.request({"cmd": "status"}, path)["ok"] is True


def test_no_bridge_means_not_running(tmp_path):
    assert not control_socket.bridge_running(tmp_path / "nothing.sock")


def test_a_huge_line_is_answered_request_too_long_and_the_server_lives(server):
    import json
    import socket

    path, calls = server
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(10)
        sock.connect(str(path))
        try:
            sock.sendall(b"x" * (10 * 1024 * 1024) + b"\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may stop reading once the line is too long: the answer is still there
        answer = json.loads(sock.makefile().readline())
    assert answer["ok"] is False and "request too long" in answer["error"]
    assert control_socket.request({"cmd": "status"}, path)["ok"] is True
    assert all(call.get("cmd") == "status" for call in calls)


def test_the_bridge_answers_a_malformed_device_in_one_line(isolated_home):
    from host.bridge.bridge import Bridge

    bridge = Bridge(engines=None, devices=[], control_server=False)  # its request handling only: no earbuds
    answer = asyncio.run(bridge.handle_request({"cmd": "status", "device": ["x"]}))
    assert answer == {"ok": False, "error": "device must be a name or an address"}
    answer = asyncio.run(bridge.handle_request({"cmd": "forget"}))
    assert answer == {"ok": False, "error": "forget needs the earbud's address"}


SECOND_USER = "nobody"
CONNECT_AS_ANOTHER_USER = """
import socket, sys
s = socket.socket(socket.AF_UNIX)
try:
    s.connect(sys.argv[1])
except PermissionError:
    print("permission denied")
else:  # a refused user is told at once, before sending anything
    print(s.recv(4096).decode().strip())
"""


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to run a client as a second Unix user")
def test_another_user_is_refused_even_when_the_modes_are_loosened(server_others_can_reach):
    import subprocess

    path, calls = server_others_can_reach

    def as_second_user() -> str:
        # The system's Python: the test's own may sit in root's home, which the second user cannot enter.
        return subprocess.run(["/usr/bin/python3", "-c", CONNECT_AS_ANOTHER_USER, str(path)], user=SECOND_USER,
                              capture_output=True, text=True, timeout=30, check=True, cwd="/",
                              env={"PATH": "/usr/bin:/bin"}).stdout.strip()

    assert as_second_user() == "permission denied"  # the folder is 0700, the socket 0600
    os.chmod(path.parent, 0o755)
    os.chmod(path, 0o666)
    assert as_second_user() == '{"ok": false, "error": "this bridge belongs to another user"}'
    assert calls == []  # nothing reached the bridge
