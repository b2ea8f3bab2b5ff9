"""`EarbudLink`: a robust connection to one bonded earbud, through bleak (native backends or our Bumble backend).

The I/O shell around EarbudProtocol (which holds the protocol and its counters): it connects, writes, feeds the
protocol what the earbud notifies, and reconnects. One API, queues:

    link = EarbudLink("F1:22:33:44:55:66", adapter="sim:127.0.0.1:7420")
    await link.connect(timeout=10)            # or start() (returns at once) then wait_connected(timeout)
    pcm = await link.audio.get()              # 16 kHz mono PCM16LE from the earbud's mic (concealed over gaps)
    msg = await link.messages.get()           # every status-channel message (Status, Button, Speaker, ...)
    link.quiet = True                         # the quiet gate: audio frames are dropped undecoded (and counted)
    await link.send_control(SetQuiet(1, QUIET_SOURCE_HOST)); await link.send_audio_frame(frame)
    await link.close()

On every (re)connection the link checks the ATT MTU (>= 185), subscribes to status, sends HELLO, waits for the
earbud's HELLO, then subscribes to audio up (if `stream_audio`); then `on_connection(True)` (in the event loop;
it must not block). When the link drops it reconnects with exponential backoff until `close()`; it stops only for
errors reconnecting cannot fix (LinkRefusedError: the earbud forgot our bond, or its MTU is too small), which
`wait_connected` raises and `error` holds.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from bleak import BleakClient
from bleak.backends.device import BLEDevice
from bleak.exc import BleakError
from bleak_retry_connector import establish_connection

from host import __version__
from host.link.adapter import Adapter, resolve_adapter
from host.link.earbud_protocol import EarbudProtocol
from host.link.errors import LinkDownError, LinkRefusedError
from host.link.reconnector import Reconnector
from protocol import control, gatt

logger = logging.getLogger(__name__)

BATTERY_LEVEL_UUID = "00002a19-0000-1000-8000-00805f9b34fb"
HELLO_TIMEOUT_S = 5.0
AUDIO_QUEUE_FRAMES = 500  # ~10 s of ADPCM frames; beyond that the consumer is stuck: drop the oldest
MESSAGE_QUEUE_LEN = 256


def _put_dropping_oldest(queue: asyncio.Queue, item: Any) -> bool:
    """Put without blocking; when full, drop the oldest item. Returns False if something was dropped."""
    dropped = False
    while True:
        try:
            queue.put_nowait(item)
            return not dropped
        except asyncio.QueueFull:
            try:
                queue.get_nowait()
                dropped = True
            except asyncio.QueueEmpty:
                pass


class EarbudLink:
    """A connection to one bonded earbud that keeps itself up. See the module docstring for a tour."""

    def __init__(
        self,
        address: str,
        *,
        adapter: Adapter | str | None = None,
        name: str | None = None,
        stream_audio: bool = True,
        codecs: int = control.CODECS_MASK_ADPCM | control.CODECS_MASK_PCM16,
        software: str = f"earpiece-host {__version__}",
        reconnect: bool = True,
        backoff_initial_s: float = 0.1,
        backoff_max_s: float = 5.0,
        on_connection: Callable[[bool], None] | None = None,
    ) -> None:
        self.address = address.upper()
        self.name = name or self.address
        self.adapter = adapter if isinstance(adapter, Adapter) else resolve_adapter(adapter)
        self.stream_audio = stream_audio
        self.protocol = EarbudProtocol(codecs, software)
        self.audio: asyncio.Queue[bytes] = asyncio.Queue(AUDIO_QUEUE_FRAMES)
        self.messages: asyncio.Queue[Any] = asyncio.Queue(MESSAGE_QUEUE_LEN)
        self.mtu: int | None = None
        self._keeper = Reconnector(
            self.name, self._connect_and_set_up, self._drop_client, self.protocol.stats, reconnect=reconnect,
            backoff_initial_s=backoff_initial_s, backoff_max_s=backoff_max_s, on_ready=on_connection,
        )
        self._client: BleakClient | None = None
        self._hello = asyncio.Event()
        self._status_waiters: list[asyncio.Future] = []
        self._write_lock = asyncio.Lock()  # control writes are requests: one at a time keeps answers in order

    # -- state ----------------------------------------------------------------------------------------------

    @property
    def quiet(self) -> bool:
        """The quiet gate: while True every audio frame is dropped undecoded and counted."""
        return self.protocol.quiet

    @quiet.setter
    def quiet(self, value: bool) -> None:
        self.protocol.quiet = bool(value)

    stats = property(lambda self: self.protocol.stats, doc="LinkStats: counters over the link's whole life")
    earbud_hello = property(lambda self: self.protocol.earbud_hello, doc="the earbud's HELLO on this connection")
    last_status = property(lambda self: self.protocol.last_status, doc="the last STATUS the earbud sent")
    error = property(lambda self: self._keeper.error, doc="why the link gave up (see LinkRefusedError), or None")

    @property
    def connected(self) -> bool:
        return self._keeper.ready

    @property
    def client(self) -> BleakClient | None:
        """The bleak client of the current connection (None while disconnected)."""
        return self._client

    # -- lifecycle ------------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Start connecting (and reconnecting) in the background."""
        self._keeper.start()

    async def connect(self, timeout: float = 20.0) -> None:
        """Start and wait until the link is up (raises TimeoutError or LinkRefusedError)."""
        await self.start()
        await self.wait_connected(timeout)

    async def wait_connected(self, timeout: float | None = None) -> None:
        """Wait until connected and set up.

        Raises LinkRefusedError (a ConnectionError) if the link gave up for good, ConnectionError if it stopped
        (closed, or `reconnect=False` and the attempt failed), TimeoutError on timeout."""
        await self._keeper.wait_ready(timeout)

    async def close(self) -> None:
        """Disconnect and stop reconnecting."""
        await self._keeper.stop()

    async def __aenter__(self) -> "EarbudLink":
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- sending and asking ---------------------------------------------------------------------------------

    async def send_control(self, message: Any) -> None:
        """Send one control message, a list of them (packed into one write), or already-encoded bytes.

        Raises ConnectionError when not connected, ProtocolError when a message cannot be encoded."""
        data = self.protocol.encode_control(message)
        client = self._require_client()
        async with self._write_lock:
            try:
                await client.write_gatt_char(gatt.CONTROL_UUID, data, response=True)
            except (BleakError, asyncio.TimeoutError) as error:
                raise LinkDownError(
                    f"control write to {self.name} failed ({error}): is it still in range? try again"
                ) from error

    async def send_audio_frame(self, frame: bytes) -> bool:
        """Write one encoded audio frame to the speaker. Returns False (and counts it) when it could not go."""
        client = self._client
        sent = False
        if client is not None and self.connected:
            try:
                await client.write_gatt_char(gatt.AUDIO_DOWN_UUID, frame, response=False)
                sent = True
            except (BleakError, asyncio.TimeoutError, OSError) as error:
                logger.debug("audio write to %s failed: %s", self.name, error)
        self.protocol.audio_sent(frame, sent)
        return sent

    async def request_status(self, timeout: float = 3.0) -> control.Status:
        """Send GET_STATUS and wait for the STATUS answer."""
        waiter = asyncio.get_running_loop().create_future()
        self._status_waiters.append(waiter)
        try:
            await self.send_control(control.GetStatus())
            return await asyncio.wait_for(waiter, timeout)
        finally:
            self._status_waiters.remove(waiter)

    async def read_battery(self) -> int | None:
        """Battery level in percent from the standard Battery service (None if the earbud has none)."""
        client = self._require_client()
        try:
            value = await client.read_gatt_char(BATTERY_LEVEL_UUID)
        except BleakError as error:
            logger.debug("battery read from %s failed: %s", self.name, error)
            return None
        return value[0] if value else None

    def discard_audio(self) -> int:
        """Drop the PCM waiting in `audio` and the partial stream (quiet began). Returns chunks dropped."""
        dropped = 0
        while not self.audio.empty():
            self.audio.get_nowait()
            dropped += 1
        self.protocol.reset_audio()
        return dropped

    def _require_client(self) -> BleakClient:
        if self._client is None or not self.connected:
            raise LinkDownError(f"{self.name} is not connected: is it on and in range?")
        return self._client

    # -- connecting (the Reconnector decides when) --------------------------------------------------------

    async def _connect_and_set_up(self) -> None:
        self._hello.clear()
        device = BLEDevice(self.address, self.name, None)
        try:
            client = await establish_connection(
                BleakClient, device, self.name, disconnected_callback=self._on_disconnected, max_attempts=2,
                **self.adapter.client_kwargs(),
            )
        except Exception as error:
            raise self.adapter.refusal(error, self.name, self.address) or error
        self._client = client
        self.mtu = self._negotiated_mtu(client)
        self.protocol.check_mtu(self.mtu)
        try:
            await client.start_notify(gatt.STATUS_UUID, self._on_status_notification)
        except BleakError as error:
            raise self.adapter.refusal(error, self.name, self.address) or error
        await client.write_gatt_char(gatt.CONTROL_UUID, self.protocol.connection_started(), response=True)
        try:
            await asyncio.wait_for(self._hello.wait(), HELLO_TIMEOUT_S)
        except asyncio.TimeoutError:
            raise LinkDownError(f"{self.name} did not answer HELLO within {HELLO_TIMEOUT_S:.0f} s") from None
        if self.stream_audio:
            await client.start_notify(gatt.AUDIO_UP_UUID, self._on_audio_notification)
        logger.info("%s connected (MTU %d, firmware %s)", self.name, self.mtu, self.earbud_hello.firmware)

    @staticmethod
    def _negotiated_mtu(client: BleakClient) -> int:
        # BlueZ reports 23 from mtu_size until a notify/write is acquired; the characteristic knows the real one.
        characteristic = client.services.get_characteristic(gatt.AUDIO_DOWN_UUID)
        if characteristic is None:
            raise LinkRefusedError("this device has no Earpiece audio service: is it an Earpiece earbud?")
        return max(client.mtu_size, characteristic.max_write_without_response_size + 3)

    def _on_disconnected(self, _client: BleakClient) -> None:
        logger.info("%s disconnected", self.name)
        self._keeper.lost()

    async def _drop_client(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                await asyncio.wait_for(client.disconnect(), 5.0)
            except Exception as error:  # it may already be gone
                logger.debug("disconnect %s: %s", self.name, error)

    # -- incoming data (bleak callbacks: must never raise) --------------------------------------------------

    def _on_audio_notification(self, _sender: Any, data: bytearray) -> None:
        pcm = self.protocol.audio_received(bytes(data))
        if pcm and not _put_dropping_oldest(self.audio, pcm):
            self.stats.audio_queue_dropped += 1

    def _on_status_notification(self, _sender: Any, data: bytearray) -> None:
        for message in self.protocol.status_received(bytes(data)):
            if isinstance(message, control.EarbudHello):
                self._hello.set()
            elif isinstance(message, control.Status):
                for waiter in self._status_waiters:
                    if not waiter.done():
                        waiter.set_result(message)
            _put_dropping_oldest(self.messages, message)
