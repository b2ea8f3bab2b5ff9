"""The running bridge's local control socket: how `earpiece quiet` and `earpiece status` reach `earpiece run`.

While the bridge holds the Bluetooth link to an earbud, no other process can talk to that earbud, so CLI commands
ask the bridge instead. The socket is a Unix domain socket in a folder only the user can open (0700, the socket
0600): no network port, no other user. One request per connection, one JSON object per line each way.

Request:  {"cmd": "status" | "quiet", "device": "<name or address>" | null, "quiet": true | false}
          {"cmd": "forget", "address": "<address>"}   (the earbud was forgotten: disconnect it now)
          {"cmd": "enroll", "device": "<name or address>"}   (learn the wearer's voice: about a minute)
Response: {"ok": true, ...} or {"ok": false, "error": "<one line saying what to do>"}
"""

import asyncio
import contextlib
import json
import logging
import os
import socket
import struct
from collections.abc import Awaitable, Callable
from pathlib import Path

from host import paths
from host.errors import EarpieceError

log = logging.getLogger(__name__)

Handler = Callable[[dict], Awaitable[dict]]
MAX_REQUEST_BYTES = 64 * 1024


class BridgeRunningError(EarpieceError):
    """Another bridge already holds the control socket."""


def socket_path() -> Path:
    return paths.runtime_dir() / "bridge.sock"


class ControlServer:
    """Serves requests from CLI commands to the running bridge."""

    def __init__(self, handler: Handler, path: Path | None = None):
        self._handler = handler
        self.path = path or socket_path()
        self._server: asyncio.AbstractServer | None = None

    async def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(self.path.parent, 0o700)
        if self.path.exists():
            if _is_alive(self.path):
                raise BridgeRunningError(f"another bridge is already running (socket {self.path}); stop it first")
            self.path.unlink()  # left behind by a bridge that crashed
        old_umask = os.umask(0o177)
        try:
            self._server = await asyncio.start_unix_server(self._serve, path=str(self.path), limit=MAX_REQUEST_BYTES + 1)
        finally:
            os.umask(old_umask)
        os.chmod(self.path, 0o600)

    async def close(self) -> None:
        if self._server:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await self._serve_one(reader, writer)
        except asyncio.CancelledError:
            # The bridge is stopping mid-request: drop the connection quietly. (Python 3.11's streams call
            # task.exception() on a cancelled connection task and log that as a traceback.)
            writer.transport.abort()

    async def _serve_one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            uid = _peer_uid(writer)
            if uid not in (None, 0, os.getuid()):
                # The folder's mode already keeps other users out; this holds even if someone loosens it.
                log.warning("control socket: refused a connection from another user (uid %d)", uid)
                writer.write(b'{"ok": false, "error": "this bridge belongs to another user"}\n')
                await writer.drain()
                return
            try:
                line = await asyncio.wait_for(reader.readline(), timeout=5)
            except ValueError:  # the line ran past the stream's limit
                line = b"x" * (MAX_REQUEST_BYTES + 1)
            if len(line) > MAX_REQUEST_BYTES:
                response = {"ok": False, "error": f"request too long (at most {MAX_REQUEST_BYTES} bytes)"}
            else:
                try:
                    request = json.loads(line)
                    if not isinstance(request, dict):
                        raise ValueError("not an object")
                except ValueError:
                    response = {"ok": False, "error": "malformed request: send one JSON object per line"}
                else:
                    try:
                        response = await self._handler(request)
                    except Exception as error:  # one bad request must never take the bridge down
                        log.exception("control request failed")
                        response = {"ok": False, "error": str(error) or type(error).__name__}
            writer.write((json.dumps(response) + "\n").encode())
            await writer.drain()
        except (asyncio.TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()


def _peer_uid(writer: asyncio.StreamWriter) -> int | None:
    """The connecting process's user id (Linux SO_PEERCRED), or None where the OS does not say."""
    sock = writer.get_extra_info("socket")
    if sock is None or not hasattr(socket, "SO_PEERCRED"):
        return None
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return struct.unpack("3i", creds)[1]  # pid, uid, gid


def _is_alive(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(1)
        try:
            probe.connect(str(path))
        except OSError:
            return False
    return True


def bridge_running(path: Path | None = None) -> bool:
    """True when a bridge answers on the control socket."""
    path = path or socket_path()
    return path.exists() and _is_alive(path)


def request(obj: dict, path: Path | None = None, timeout: float = 10.0) -> dict:
    """Send one request to the running bridge and return its response (blocking; for the CLI)."""
    path = path or socket_path()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(str(path))
        sock.sendall((json.dumps(obj) + "\n").encode())
        data = b""
        while not data.endswith(b"\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    return json.loads(data)
