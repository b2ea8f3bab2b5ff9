"""The virtual radio: one Bumble LocalLink, one virtual controller per attached host, served over TCP.

Each TCP client is a Bumble host speaking HCI H4 (transport spec `tcp-client:127.0.0.1:PORT`); the radio gives
it its own `RadioController` on the shared link. LE data between controllers goes through `AirModel`
(air.py), so every host sees connection intervals, retransmissions, latency and link loss.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import logging

from bumble import hci
from bumble.controller import Connection, Controller
from bumble.core import PhysicalTransport
from bumble.link import LocalLink
from bumble.transport.common import PacketParser

from device_sim.air import AirModel, AirSettings

logger = logging.getLogger(__name__)

# LE Data Length Extension: a whole audio frame (168 bytes + ATT/L2CAP headers) fits one LL packet.
LE_DATA_LENGTH = 251
# Controllers have few ACL buffers; a small number makes a host's flow control (and our pacing) matter.
LE_ACL_BUFFERS = 8
# Supervision timeout reported to hosts, in 10 ms units (the link loss they see is this kind).
SUPERVISION_TIMEOUT_10MS = 400


class RadioController(Controller):
    """A Bumble controller whose LE data moves through the air model instead of instantly."""

    def __init__(self, name: str, link: LocalLink, air: AirModel) -> None:
        super().__init__(name, link=link)
        self.air = air
        air.controllers.append(self)
        self.le_acl_data_packet_length = LE_DATA_LENGTH
        self.total_num_le_acl_data_packets = LE_ACL_BUFFERS
        self.supported_max_tx_octets = self.supported_max_rx_octets = LE_DATA_LENGTH
        self.suggested_max_tx_octets = LE_DATA_LENGTH
        self.supported_max_tx_time = self.supported_max_rx_time = self.suggested_max_tx_time = 2120

    def on_hci_acl_data_packet(self, packet: hci.HCI_AclDataPacket) -> None:
        connection = self.find_connection_by_handle(packet.connection_handle)
        if connection is None or connection.transport != PhysicalTransport.LE:
            super().on_hci_acl_data_packet(packet)
            return
        self.air.submit(self, connection, packet)

    def send_hci_packet(self, packet: hci.HCI_Packet) -> None:
        if isinstance(packet, hci.HCI_LE_Connection_Complete_Event) and packet.status == hci.HCI_SUCCESS:
            connection = self.find_le_connection_by_handle(packet.connection_handle)
            if connection is not None:
                self.air.on_connected(self, connection)
            # Tell the host the interval the air really runs (units of 1.25 ms).
            packet = hci.HCI_LE_Connection_Complete_Event(
                status=packet.status,
                connection_handle=packet.connection_handle,
                role=packet.role,
                peer_address_type=packet.peer_address_type,
                peer_address=packet.peer_address,
                connection_interval=round(self.air.settings.interval_ms / 1.25),
                peripheral_latency=0,
                supervision_timeout=SUPERVISION_TIMEOUT_10MS,
                central_clock_accuracy=packet.central_clock_accuracy,
            )
        elif isinstance(packet, (hci.HCI_LE_Advertising_Report_Event, hci.HCI_LE_Extended_Advertising_Report_Event)):
            packet = self._with_real_scan_responses(packet)
        elif isinstance(packet, hci.HCI_LE_Connection_Update_Complete_Event):
            # The air runs the radio's interval whatever a host asks for: say so rather than agree.
            packet = hci.HCI_LE_Connection_Update_Complete_Event(
                status=packet.status,
                connection_handle=packet.connection_handle,
                connection_interval=round(self.air.settings.interval_ms / 1.25),
                peripheral_latency=packet.peripheral_latency,
                supervision_timeout=packet.supervision_timeout,
            )
        super().send_hci_packet(packet)

    def _with_real_scan_responses(self, event: hci.HCI_Event) -> hci.HCI_Event:
        """Bumble's controller answers a scan with the advertising data again; a real one sends the advertiser's
        scan response (where an earbud puts its full name). Every controller lives in this process: look it up."""
        extended = isinstance(event, hci.HCI_LE_Extended_Advertising_Report_Event)
        reports = []
        for report in event.reports:
            is_scan_response = (report.event_type & hci.HCI_LE_Extended_Advertising_Report_Event.EventType.SCAN_RESPONSE
                                if extended else
                                report.event_type == hci.HCI_LE_Advertising_Report_Event.EventType.SCAN_RSP)
            response = _scan_response_of(self.air.controllers, report.address) if is_scan_response else None
            if response:
                report = dataclasses.replace(report, data=response)
            reports.append(report)
        return type(event)(reports)

    def on_le_disconnected(self, connection: Connection, reason: int) -> None:
        if connection.peer_address not in self.le_connections:
            return  # already gone (both the cut and a TerminateInd can arrive)
        self.air.on_disconnected(connection)
        super().on_le_disconnected(connection, reason)


class _TransportSink:
    """Controller -> host: HCI packets written to the host's TCP socket."""

    def __init__(self, transport: asyncio.Transport) -> None:
        self.transport = transport

    def on_packet(self, packet: bytes) -> None:
        if not self.transport.is_closing():
            self.transport.write(packet)


class _HostConnection(asyncio.Protocol):
    """One attached host: its socket, its parser and its virtual controller."""

    def __init__(self, radio: Radio) -> None:
        self.radio = radio
        self.controller: RadioController | None = None
        self.parser: PacketParser | None = None
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.controller = self.radio.attach(_TransportSink(transport))
        self.parser = PacketParser(self.controller)

    def data_received(self, data: bytes) -> None:
        assert self.parser is not None and self.transport is not None
        try:
            self.parser.feed_data(data)
        except Exception as error:  # a host speaking garbage loses its attachment, not the radio
            logger.warning("dropping host %s: bad HCI stream (%s)", self.controller and self.controller.name, error)
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.controller is not None:
            self.radio.detach(self.controller)
            self.controller = None


class Radio:
    """The virtual air: the link, the air model and the TCP server hosts attach to."""

    def __init__(self, settings: AirSettings) -> None:
        self.air = AirModel(settings)
        self.link = LocalLink()
        self.server: asyncio.Server | None = None
        self._names = itertools.count(1)

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Listen; returns the port (useful with port 0)."""
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(lambda: _HostConnection(self), host, port)
        return self.server.sockets[0].getsockname()[1]

    def attach(self, sink: _TransportSink) -> RadioController:
        controller = RadioController(f"host{next(self._names)}", self.link, self.air)
        controller.host = sink
        logger.info("host attached: %s", controller.name)
        return controller

    def detach(self, controller: RadioController) -> None:
        logger.info("host detached: %s", controller.name)
        # A host that went away must not keep advertising from beyond the grave (the timers are the controller's).
        controller.le_legacy_advertiser.stop()
        for advertising_set in controller.advertising_sets.values():
            advertising_set.stop()
        self.air.detach(controller)
        controller.host = None
        if controller in self.link.controllers:
            self.link.remove_controller(controller)

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


def _scan_response_of(controllers: list[Controller], address: hci.Address) -> bytes | None:
    """The scan response data the controller advertising as `address` was given (legacy or extended set)."""
    for controller in controllers:
        if controller.random_address != address:
            continue
        if controller.le_legacy_advertiser.scan_response_data:
            return bytes(controller.le_legacy_advertiser.scan_response_data)
        for advertising_set in controller.advertising_sets.values():
            if advertising_set.scan_response_data:
                return bytes(advertising_set.scan_response_data)
    return None
