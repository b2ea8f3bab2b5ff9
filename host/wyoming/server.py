"""The TCP server of one earbud's satellite: the `wyoming` library's `AsyncServer`, with a bounded reader (its
header line limit is `MAX_HEADER_BYTES`), a bounded number of clients, and each client a `SatelliteConnection`."""

from __future__ import annotations

import asyncio
import logging

from wyoming.server import AsyncServer, HandlerFactory

from host.errors import EarpieceError
from host.wyoming.connection import SatelliteConnection
from host.wyoming.satellite import EarbudSatellite
from host.wyoming.wire import MAX_HEADER_BYTES

log = logging.getLogger(__name__)

MAX_CLIENTS = 8  # Home Assistant holds one; a few more for `describe` probes and reconnections overlapping


class SatellitePortError(EarpieceError):
    """The satellite's port cannot be opened; the message names it and what to do."""


class SatelliteServer(AsyncServer):
    """Serves `satellite` on host:port (port 0: any free one; `port` is the real one after `start`)."""

    def __init__(self, satellite: EarbudSatellite, host: str, port: int):
        super().__init__()
        self.satellite = satellite
        self.host = host
        self.port = port
        self._server: asyncio.AbstractServer | None = None

    def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> SatelliteConnection:
        connection = SatelliteConnection(reader, writer, self.satellite.name, self.satellite.handle,
                                         self.satellite.disconnected)
        if len(self.satellite.connections) >= MAX_CLIENTS:
            connection.fail(f"already {MAX_CLIENTS} clients on this satellite")
        else:
            self.satellite.connected(connection)
        return connection

    async def start(self, handler_factory: HandlerFactory | None = None) -> None:
        """Start listening (without blocking)."""
        factory = handler_factory or self._connection
        try:
            self._server = await asyncio.start_server(
                lambda reader, writer: self._handler_callback(factory, reader, writer),
                host=self.host, port=self.port, limit=MAX_HEADER_BYTES)
        except OSError as error:
            raise SatellitePortError(
                f"the Wyoming satellite for {self.satellite.name} cannot listen on {self.host}:{self.port} "
                f"({error.strerror or error}); choose another [wyoming] satellite_port or --wyoming PORT") from None
        self.port = self._server.sockets[0].getsockname()[1]

    async def run(self, handler_factory: HandlerFactory | None = None) -> None:
        await self.start(handler_factory)
        await self._server.serve_forever()

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        self.satellite.close()
        tasks = list(self._handlers)
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
