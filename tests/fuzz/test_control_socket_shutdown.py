"""Found by the soak (issue 16): a bridge stopped while a control-socket client was connected logged
"Exception in callback ... CancelledError" with a traceback (Python 3.11 streams and a cancelled connection task)."""

from __future__ import annotations

import asyncio

from host.bridge.control_socket import ControlServer


def test_stopping_with_a_client_connected_logs_no_exception(tmp_path):
    reported: list[dict] = []

    async def handler(_request: dict) -> dict:
        await asyncio.sleep(10)  # a request still being answered when the bridge stops
        return {"ok": True}

    async def bridge_that_stops() -> None:
        asyncio.get_running_loop().set_exception_handler(lambda _loop, context: reported.append(context))
        server = ControlServer(handler, tmp_path / "run" / "bridge.sock")
        await server.start()
        _waiting = await asyncio.open_unix_connection(str(server.path))  # connected, sends nothing yet
        _, writer = await asyncio.open_unix_connection(str(server.path))
        writer.write(b'{"cmd": "status"}\n')  # and one in the handler
        await asyncio.sleep(0.2)
        # asyncio.run now cancels both connection tasks, as when `earpiece run` is stopped

    asyncio.run(bridge_that_stops())
    assert not reported, [context.get("message") for context in reported]
