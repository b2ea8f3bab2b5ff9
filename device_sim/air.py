"""The air between virtual controllers: connection events, retransmissions, latency and link loss.

Bumble's LocalLink hands a packet to the peer at once. A real LE link layer does not: data moves only at
connection events (every `interval`), a packet that is not acknowledged is sent again at the next event
(and everything behind it on that connection waits: LE delivers in order and never drops an acknowledged
stream), and the controller reports a packet "completed" to its host only once the peer acknowledged it —
which is what makes a host's flow control (and our notification pacing) feel the slow link.
`AirModel` reproduces that between `RadioController`s (see radio.py).
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import logging
import random
from typing import TYPE_CHECKING

from bumble import hci
from bumble.core import PhysicalTransport

if TYPE_CHECKING:
    from bumble.controller import Connection, Controller

logger = logging.getLogger(__name__)

# Supervision timeout: the reason both sides see when the radio cuts a link (a real link that fades out).
LINK_LOST_REASON = hci.HCI_ErrorCode.CONNECTION_TIMEOUT_ERROR


@dataclasses.dataclass
class AirSettings:
    """How the virtual air behaves. Defaults model a good link: 7.5 ms interval (the shortest LE allows,
    what phones grant audio accessories), no retransmissions, 1 ms of controller/radio latency."""

    interval_ms: float = 7.5
    retransmit_prob: float = 0.0
    latency_ms: float = 1.0
    disconnect_every_s: float = 0.0  # 0 = links are never cut
    # A 251-byte LL data PDU on the 2M PHY plus its IFS and the peer's empty ack takes ~1.3 ms: a
    # controller fits a handful per event and direction; more queue for the next event.
    packets_per_event: int = 4
    seed: int | None = None

    def validate(self) -> None:
        if not 7.5 <= self.interval_ms <= 4000:
            raise ValueError("interval must be between 7.5 and 4000 ms (the LE range)")
        if not 0 <= self.retransmit_prob < 1:
            raise ValueError("retransmit probability must be in [0, 1)")
        if self.latency_ms < 0:
            raise ValueError("latency must be >= 0 ms")
        if self.disconnect_every_s < 0:
            raise ValueError("disconnect interval must be >= 0 s (0 = never)")
        if self.packets_per_event < 1:
            raise ValueError("packets per event must be >= 1")


# LE 2M PHY: 2 bits per microsecond. Each data packet carries ~15 bytes of overhead (preamble, access address,
# header, MIC, CRC) and is followed by the inter-frame space and the peer's empty acknowledgement.
_PHY_BYTES_PER_S = 2_000_000 / 8
_PACKET_OVERHEAD_BYTES = 15
_ACK_S = 150e-6 + (_PACKET_OVERHEAD_BYTES / _PHY_BYTES_PER_S) + 150e-6


def _airtime_s(payload_bytes: int) -> float:
    """How long one LL data packet and its acknowledgement keep the air busy."""
    return (payload_bytes + _PACKET_OVERHEAD_BYTES) / _PHY_BYTES_PER_S + _ACK_S


class _Direction:
    """Packets one side has handed its controller and the peer has not yet acknowledged."""

    def __init__(self, controller: Controller, connection: Connection) -> None:
        self.controller = controller
        self.connection = connection
        self.queue: collections.deque[hci.HCI_AclDataPacket] = collections.deque()
        self.pdus: list[bytes] = []
        # Reassemble host fragments into L2CAP PDUs as they go over the air.
        self.assembler = hci.HCI_AclDataPacketAssembler(self.pdus.append)


class _Link:
    """One LE connection between two controllers, with its own connection-event clock."""

    def __init__(self, air: AirModel, key: frozenset[str], anchor: float) -> None:
        self.air = air
        self.key = key
        self.anchor = anchor
        self.alive = True
        self.directions: dict[int, _Direction] = {}  # by id(controller)
        self.event_timer: asyncio.TimerHandle | None = None
        self.cut_timer: asyncio.TimerHandle | None = None
        self.stats = collections.Counter[str]()

    def direction(self, controller: Controller, connection: Connection) -> _Direction:
        direction = self.directions.get(id(controller))
        if direction is None or direction.connection is not connection:
            direction = _Direction(controller, connection)
            self.directions[id(controller)] = direction
        return direction

    def submit(self, controller: Controller, connection: Connection, packet: hci.HCI_AclDataPacket) -> None:
        self.direction(controller, connection).queue.append(packet)
        self._schedule_next_event()

    def _schedule_next_event(self) -> None:
        if self.event_timer is not None or not self.alive:
            return
        loop = asyncio.get_running_loop()
        interval = self.air.interval_s
        now = loop.time()
        events_since_anchor = int((now - self.anchor) / interval) + 1
        self.event_timer = loop.call_at(self.anchor + events_since_anchor * interval, self._connection_event)

    def _connection_event(self) -> None:
        self.event_timer = None
        if not self.alive:
            return
        loop = asyncio.get_running_loop()
        event_time = loop.time()
        for direction in list(self.directions.values()):
            self._transmit(direction, event_time)
        if any(d.queue for d in self.directions.values()):
            self._schedule_next_event()

    def _transmit(self, direction: _Direction, event_time: float) -> None:
        sent = 0
        airtime = 0.0
        while direction.queue and sent < self.air.settings.packets_per_event:
            if self.air.rng.random() < self.air.settings.retransmit_prob:
                # Not acknowledged: sent again next event; everything behind it waits (in-order delivery).
                self.stats["retransmissions"] += 1
                break
            packet = direction.queue.popleft()
            direction.assembler.feed_packet(packet)
            airtime += _airtime_s(len(packet.data))
            sent += 1
        if not sent:
            return
        self.stats["packets"] += sent
        pdus = list(direction.pdus)
        direction.pdus.clear()
        # One callback per event and direction keeps PDUs in order whatever the timer heap does.
        asyncio.get_running_loop().call_at(
            event_time + airtime + self.air.latency_s, self._deliver, direction.controller, direction.connection, pdus, sent
        )

    def _deliver(self, controller: Controller, connection: Connection, pdus: list[bytes], sent: int) -> None:
        if not self.alive:
            return  # the link died while these were in flight: lost, as on a real link
        peer = self.air.controller_for(connection.peer_address, exclude=controller)
        if peer is not None:
            for pdu in pdus:
                peer.on_link_acl_data(connection.self_address, PhysicalTransport.LE, pdu)
        # Only now, with the data at the peer, does the sender's controller report the buffers free: a host
        # that waits for its data to drain (then disconnects, say) never overtakes its own data.
        controller.send_hci_packet(
            hci.HCI_Number_Of_Completed_Packets_Event(
                connection_handles=[connection.handle], num_completed_packets=[sent]
            )
        )

    def close(self) -> None:
        self.alive = False
        for timer in (self.event_timer, self.cut_timer):
            if timer is not None:
                timer.cancel()
        self.event_timer = self.cut_timer = None
        self.directions.clear()


class AirModel:
    """All LE connections on the virtual link and the schedule they run on."""

    def __init__(self, settings: AirSettings) -> None:
        settings.validate()
        self.settings = settings
        self.interval_s = settings.interval_ms / 1000
        self.latency_s = settings.latency_ms / 1000
        self.rng = random.Random(settings.seed)
        self.controllers: list[Controller] = []
        self.links: dict[frozenset[str], _Link] = {}
        self.totals = collections.Counter[str]()

    @staticmethod
    def _key(connection: Connection) -> frozenset[str]:
        return frozenset((str(connection.self_address), str(connection.peer_address)))

    def controller_for(self, address: hci.Address, exclude: Controller | None = None) -> Controller | None:
        for controller in self.controllers:
            if controller is exclude:
                continue
            for connection in controller.le_connections.values():
                if connection.self_address == address:
                    return controller
        return None

    def on_connected(self, controller: Controller, connection: Connection) -> None:
        key = self._key(connection)
        if key in self.links:
            return  # the other side already opened it
        loop = asyncio.get_running_loop()
        link = _Link(self, key, anchor=loop.time())
        self.links[key] = link
        self.totals["connections"] += 1
        if self.settings.disconnect_every_s > 0:
            link.cut_timer = loop.call_later(self.settings.disconnect_every_s, self.cut, key)

    def submit(self, controller: Controller, connection: Connection, packet: hci.HCI_AclDataPacket) -> None:
        link = self.links.get(self._key(connection))
        if link is None:
            # A connection the model did not see start (should not happen): keep it working, unpaced.
            logger.warning("ACL data on an unknown link %s", connection.peer_address)
            self.on_connected(controller, connection)
            link = self.links[self._key(connection)]
        link.submit(controller, connection, packet)

    def on_disconnected(self, connection: Connection) -> None:
        link = self.links.pop(self._key(connection), None)
        if link is not None:
            self.totals.update(link.stats)
            link.close()

    def cut(self, key: frozenset[str]) -> None:
        """Lose the link as a fading radio does: both hosts see a supervision timeout."""
        link = self.links.get(key)
        if link is None:
            return
        self.totals["links_cut"] += 1
        for controller in list(self.controllers):
            for connection in list(controller.le_connections.values()):
                if self._key(connection) == key:
                    controller.on_le_disconnected(connection, LINK_LOST_REASON)

    def detach(self, controller: Controller) -> None:
        """A host went away (its TCP client closed): its peers lose their links to it."""
        for connection in list(controller.le_connections.values()):
            key = self._key(connection)
            for other in list(self.controllers):
                if other is controller:
                    continue
                for peer_connection in list(other.le_connections.values()):
                    if self._key(peer_connection) == key:
                        other.on_le_disconnected(peer_connection, LINK_LOST_REASON)
            self.on_disconnected(connection)
        if controller in self.controllers:
            self.controllers.remove(controller)
