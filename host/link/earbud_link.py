"""`EarbudLink`: a robust connection to one bonded earbud, through bleak (native backends or our Bumble backend).

What the voice pipeline and `earpiece run` use:

    link = EarbudLink("F1:22:33:44:55:66", adapter="sim:127.0.0.1:7420")
    await link.start()                        # returns at once; connects and reconnects in the background
    await link.wait_connected(timeout=10)     # raises LinkRefusedError when the earbud cannot be used
    pcm = await link.audio.get()              # 16 kHz mono PCM16LE from the earbud's mic (concealed over gaps)
    msg = await link.messages.get()           # every status-channel message (Status, Button, Speaker, ...)
    await link.send_control(SetQuiet(1, QUIET_SOURCE_HOST))
    await link.send_audio_frame(frame)        # one encoded audio frame to the speaker (write without response)
    print(link.stats)                         # frames, bytes, sequence gaps, reconnects, ...
    await link.close()

Callbacks (`on_audio` PCM, `on_audio_frame` the raw frames as received, `on_message`, `on_button`,
`on_connection`) are optional alternatives to the queues;
`is_quiet` is the quiet gate: while it returns True every audio frame is dropped (and counted) undecoded;
they run in the event loop and must not block. A callback that raises is logged and counted, never fatal.

On every (re)connection the link checks the ATT MTU (>= 185), subscribes to status, sends HELLO, waits for the
earbud's HELLO, then subscribes to audio up (if `stream_audio`). A bad packet from the earbud is counted and
dropped. When the link drops it reconnects with exponential backoff, unattended, until `close()`; it stops
only for errors reconnecting cannot fix (the earbud forgot our bond, or its MTU is too small), which
`wait_connected` raises and `error` holds.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bleak import BleakClient
from bleak.backends.device import BLEDevice
from bleak.exc import BleakError, BleakGATTProtocolError
from bleak_retry_connector import establish_connection

from host import __version__
from host.link.adapter import Adapter, resolve_adapter
from host.link.bumble_backend.client import NotBondedError
from protocol import PROTOCOL_VERSION, ProtocolError
from protocol import control, gatt
from protocol.receiver import AudioReceiver

logger = logging.getLogger(__name__)

BATTERY_LEVEL_UUID = "00002a19-0000-1000-8000-00805f9b34fb"
HELLO_TIMEOUT_S = 5.0
AUDIO_QUEUE_FRAMES = 500  # ~10 s of ADPCM frames; beyond that the consumer is stuck: drop the oldest
MESSAGE_QUEUE_LEN = 256


class LinkRefusedError(ConnectionError):
    """The earbud cannot be used over this link, and reconnecting will not help. The message says what to do."""


@dataclass
class LinkStats:
    """Counters of one EarbudLink, over its whole life (all connections)."""

    connects: int = 0
    disconnects: int = 0
    connect_failures: int = 0
    last_reconnect_s: float | None = None  # from losing the link to being ready again
    audio_frames_received: int = 0
    audio_bytes_received: int = 0
    audio_frames_sent: int = 0
    audio_bytes_sent: int = 0
    audio_frames_not_sent: int = 0  # send_audio_frame while disconnected, or the write failed
    audio_queue_dropped: int = 0  # PCM dropped because nobody read `audio` fast enough
    audio_frames_dropped_quiet: int = 0  # frames that arrived while quiet: dropped undecoded (the quiet gate)
    status_notifications: int = 0
    status_malformed: int = 0
    messages_received: int = 0
    callback_errors: int = 0
    receiver: dict[str, int] = field(default_factory=dict)  # AudioReceiver.stats: lost = sequence gaps

    @property
    def sequence_gaps(self) -> int:
        return self.receiver.get("lost", 0)

    def to_json(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        data["receiver"] = dict(self.receiver)
        data["sequence_gaps"] = self.sequence_gaps
        return data


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
        on_audio: Callable[[bytes], None] | None = None,
        on_audio_frame: Callable[[bytes], None] | None = None,
        on_message: Callable[[Any], None] | None = None,
        on_button: Callable[[int], None] | None = None,
        on_connection: Callable[[bool], None] | None = None,
        is_quiet: Callable[[], bool] | None = None,
    ) -> None:
        self.address = address.upper()
        self.name = name or self.address
        self.adapter = adapter if isinstance(adapter, Adapter) else resolve_adapter(adapter)
        self.stream_audio = stream_audio
        self.codecs = codecs
        self.software = software
        self.reconnect = reconnect
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.on_audio = on_audio
        self.on_audio_frame = on_audio_frame
        self.on_message = on_message
        self.on_button = on_button
        self.on_connection = on_connection
        # The quiet gate: while it returns True, audio frames are dropped as they arrive, before any decoding.
        self.is_quiet = is_quiet

        self.audio: asyncio.Queue[bytes] = asyncio.Queue(AUDIO_QUEUE_FRAMES)
        self.messages: asyncio.Queue[Any] = asyncio.Queue(MESSAGE_QUEUE_LEN)
        self.buttons: asyncio.Queue[int] = asyncio.Queue(MESSAGE_QUEUE_LEN)
        self.receiver = AudioReceiver(reorder_window=0)  # BLE's link layer keeps order
        self.stats = LinkStats(receiver=self.receiver.stats)

        self.earbud_hello: control.EarbudHello | None = None
        self.last_status: control.Status | None = None
        self.mtu: int | None = None
        self.error: Exception | None = None  # set when the link gave up (see LinkRefusedError)

        self._client: BleakClient | None = None
        self._ready = asyncio.Event()  # connected and set up
        self._lost = asyncio.Event()  # the current connection dropped
        self._stopped = asyncio.Event()
        self._supervisor: asyncio.Task | None = None
        self._hello_waiter: asyncio.Future | None = None
        self._status_waiters: list[asyncio.Future] = []
        self._lost_at: float | None = None
        self._write_lock = asyncio.Lock()  # control writes are requests: one at a time keeps answers in order

    # -- lifecycle ----------------------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._ready.is_set()

    @property
    def client(self) -> BleakClient | None:
        """The bleak client of the current connection (None while disconnected)."""
        return self._client

    async def start(self) -> None:
        """Start connecting (and reconnecting) in the background."""
        if self._supervisor is None:
            self._stopped.clear()
            self._supervisor = asyncio.create_task(self._supervise(), name=f"earbud-link {self.address}")

    async def connect(self, timeout: float = 20.0) -> None:
        """Start and wait until the link is up (raises TimeoutError or LinkRefusedError)."""
        await self.start()
        await self.wait_connected(timeout)

    async def wait_connected(self, timeout: float | None = None) -> None:
        """Wait until connected and set up.

        Raises LinkRefusedError (a ConnectionError) if the link gave up for good, ConnectionError if it stopped
        (closed, or `reconnect=False` and the attempt failed), TimeoutError on timeout."""
        ready = asyncio.ensure_future(self._ready.wait())
        stopped = asyncio.ensure_future(self._stopped.wait())
        try:
            done, _ = await asyncio.wait({ready, stopped}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            ready.cancel()
            stopped.cancel()
        if self._ready.is_set():
            return
        if isinstance(self.error, ConnectionError):
            raise self.error
        if self.error is not None:
            raise ConnectionError(f"cannot connect to {self.name}: {self.error}") from self.error
        if self._stopped.is_set():
            raise ConnectionError(f"link to {self.name} is closed")
        raise TimeoutError(f"{self.name} did not connect within {timeout} s: is it on and in range?")

    async def close(self) -> None:
        """Disconnect and stop reconnecting."""
        self._stopped.set()
        task, self._supervisor = self._supervisor, None
        if task is not None:
            task.cancel()
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass
        await self._drop_client()

    async def __aenter__(self) -> "EarbudLink":
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- sending ------------------------------------------------------------------------------------------

    async def send_control(self, message: Any) -> None:
        """Send one control message, a list of them (packed into one write), or already-encoded bytes.

        Raises ConnectionError when not connected, ProtocolError when a message cannot be encoded."""
        data = message if isinstance(message, (bytes, bytearray)) else (
            control.encode_messages(message if isinstance(message, (list, tuple)) else [message])
        )
        client = self._require_client()
        async with self._write_lock:
            try:
                await client.write_gatt_char(gatt.CONTROL_UUID, bytes(data), response=True)
            except (BleakError, asyncio.TimeoutError) as error:
                raise ConnectionError(f"control write to {self.name} failed: {error}") from error

    async def send_audio_frame(self, frame: bytes) -> bool:
        """Write one encoded audio frame to the speaker. Returns False (and counts it) when it could not go."""
        client = self._client
        if client is None or not self._ready.is_set():
            self.stats.audio_frames_not_sent += 1
            return False
        try:
            await client.write_gatt_char(gatt.AUDIO_DOWN_UUID, frame, response=False)
        except (BleakError, asyncio.TimeoutError, OSError) as error:
            logger.debug("audio write to %s failed: %s", self.name, error)
            self.stats.audio_frames_not_sent += 1
            return False
        self.stats.audio_frames_sent += 1
        self.stats.audio_bytes_sent += len(frame)
        return True

    async def request_status(self, timeout: float = 3.0) -> control.Status:
        """Send GET_STATUS and wait for the STATUS answer."""
        waiter = asyncio.get_running_loop().create_future()
        self._status_waiters.append(waiter)
        try:
            await self.send_control(control.GetStatus())
            return await asyncio.wait_for(waiter, timeout)
        finally:
            if waiter in self._status_waiters:
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

    def _require_client(self) -> BleakClient:
        if self._client is None or not self._ready.is_set():
            raise ConnectionError(f"{self.name} is not connected")
        return self._client

    # -- the connection loop ------------------------------------------------------------------------------

    async def _supervise(self) -> None:
        backoff = self.backoff_initial_s
        while not self._stopped.is_set():
            try:
                await self._connect_and_set_up()
            except LinkRefusedError as error:
                logger.error("%s: %s", self.name, error)
                self.error = error
                self._stopped.set()
                await self._drop_client()
                return
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise  # close()
                # A library's stray cancellation (Bumble aborts requests this way on a disconnection): retry.
                failure: Exception = ConnectionError("connection attempt aborted")
            except Exception as error:  # anything else is worth another try
                failure = error
            else:
                backoff = self.backoff_initial_s
                await self._lost.wait()
                self._set_ready(False)
                await self._drop_client()
                if not self.reconnect:
                    self._stopped.set()
                    return
                continue
            self.stats.connect_failures += 1
            await self._drop_client()
            if not self.reconnect:
                self.error = failure
                self._stopped.set()
                return
            logger.info("%s: connection failed (%s); retrying in %.1f s", self.name, failure, backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self.backoff_max_s)

    async def _connect_and_set_up(self) -> None:
        self._lost.clear()
        device = BLEDevice(self.address, self.name, None)
        try:
            client = await establish_connection(
                BleakClient,
                device,
                self.name,
                disconnected_callback=self._on_disconnected,
                max_attempts=2,
                **self.adapter.client_kwargs(),
            )
        except BleakError as error:
            if _caused_by(error, NotBondedError):
                raise LinkRefusedError(
                    f"{self.name} no longer accepts this computer's pairing (it was reset or paired elsewhere): "
                    f"run `earpiece forget {self.address}` then `earpiece pair` again"
                ) from error
            raise
        self._client = client
        self.mtu = self._negotiated_mtu(client)
        if self.mtu < gatt.MIN_MTU:
            raise LinkRefusedError(
                f"the earbud allows an ATT MTU of only {self.mtu} bytes (Earpiece needs >= {gatt.MIN_MTU}); "
                "update its firmware"
            )
        try:
            await client.start_notify(gatt.STATUS_UUID, self._on_status_notification)
        except BleakError as error:
            if _is_auth_error(error):
                raise LinkRefusedError(
                    f"{self.name} refused access ({error}): it is not paired with this computer; "
                    "run `earpiece pair` again"
                ) from error
            raise
        self._hello_waiter = asyncio.get_running_loop().create_future()
        await client.write_gatt_char(
            gatt.CONTROL_UUID,
            control.Hello(PROTOCOL_VERSION, self.codecs, self.software[:32]).encode(),
            response=True,
        )
        try:
            self.earbud_hello = await asyncio.wait_for(self._hello_waiter, HELLO_TIMEOUT_S)
        except asyncio.TimeoutError:
            raise ConnectionError(f"{self.name} did not answer HELLO within {HELLO_TIMEOUT_S:.0f} s") from None
        if self.stream_audio:
            await client.start_notify(gatt.AUDIO_UP_UUID, self._on_audio_notification)
        self.stats.connects += 1
        if self._lost_at is not None:
            self.stats.last_reconnect_s = time.monotonic() - self._lost_at
            self._lost_at = None
        self._set_ready(True)
        logger.info("%s connected (MTU %d, firmware %s)", self.name, self.mtu, self.earbud_hello.firmware)

    @staticmethod
    def _negotiated_mtu(client: BleakClient) -> int:
        # BlueZ reports 23 from mtu_size until a notify/write is acquired; the characteristic knows the real one.
        mtu = client.mtu_size
        characteristic = client.services.get_characteristic(gatt.AUDIO_DOWN_UUID)
        if characteristic is None:
            raise LinkRefusedError("this device has no Earpiece audio service: is it an Earpiece earbud?")
        return max(mtu, characteristic.max_write_without_response_size + 3)

    def _on_disconnected(self, _client: BleakClient) -> None:
        logger.info("%s disconnected", self.name)
        self.stats.disconnects += 1
        self._lost_at = time.monotonic()
        self._lost.set()

    def _set_ready(self, ready: bool) -> None:
        if ready == self._ready.is_set():
            return
        if ready:
            self._ready.set()
        else:
            self._ready.clear()
        self._call(self.on_connection, ready)

    async def _drop_client(self) -> None:
        client, self._client = self._client, None
        self._set_ready(False)
        if self._hello_waiter is not None and not self._hello_waiter.done():
            self._hello_waiter.cancel()
        if client is not None:
            try:
                await asyncio.wait_for(client.disconnect(), 5.0)
            except Exception as error:  # it may already be gone
                logger.debug("disconnect %s: %s", self.name, error)

    # -- incoming data (bleak callbacks: must never raise) --------------------------------------------------

    def _on_audio_notification(self, _sender: Any, data: bytearray) -> None:
        self.stats.audio_frames_received += 1
        self.stats.audio_bytes_received += len(data)
        if self.is_quiet is not None and self._quiet_now():
            # Quiet means stopped: a frame from an earbud that should not be sending is never decoded or queued.
            self.stats.audio_frames_dropped_quiet += 1
            return
        self._call(self.on_audio_frame, bytes(data))
        pcm = self.receiver.receive(bytes(data))  # never raises; malformed frames are counted in its stats
        if not pcm:
            return
        if not _put_dropping_oldest(self.audio, pcm):
            self.stats.audio_queue_dropped += 1
        self._call(self.on_audio, pcm)

    def _quiet_now(self) -> bool:
        try:
            return bool(self.is_quiet())
        except Exception:  # a failing gate must fail closed: when in doubt, do not listen
            self.stats.callback_errors += 1
            logger.exception("%s: quiet gate failed", self.name)
            return True

    def discard_audio(self) -> int:
        """Drop the PCM waiting in `audio` and the receiver's partial state (quiet began). Returns chunks dropped."""
        dropped = 0
        while True:
            try:
                self.audio.get_nowait()
            except asyncio.QueueEmpty:
                break
            dropped += 1
        self.receiver.reset()  # the counters go on (LinkStats.receiver is the same dict)
        return dropped

    def _on_status_notification(self, _sender: Any, data: bytearray) -> None:
        self.stats.status_notifications += 1
        try:
            messages = control.decode_messages(bytes(data))
        except ProtocolError as error:
            self.stats.status_malformed += 1
            logger.debug("malformed status notification from %s: %s", self.name, error)
            return
        for message in messages:
            self.stats.messages_received += 1
            if isinstance(message, control.EarbudHello):
                if self._hello_waiter is not None and not self._hello_waiter.done():
                    self._hello_waiter.set_result(message)
            elif isinstance(message, control.Status):
                self.last_status = message
                for waiter in self._status_waiters:
                    if not waiter.done():
                        waiter.set_result(message)
            elif isinstance(message, control.Button):
                _put_dropping_oldest(self.buttons, message.event)
                self._call(self.on_button, message.event)
            _put_dropping_oldest(self.messages, message)
            self._call(self.on_message, message)

    def _call(self, callback: Callable[..., None] | None, *args: Any) -> None:
        if callback is None:
            return
        try:
            callback(*args)
        except Exception:
            self.stats.callback_errors += 1
            logger.exception("%s: callback %r failed", self.name, callback)


def _caused_by(error: BaseException | None, kind: type[BaseException]) -> bool:
    while error is not None:
        if isinstance(error, kind):
            return True
        error = error.__cause__ or error.__context__
    return False


def _is_auth_error(error: BaseException) -> bool:
    if isinstance(error, BleakGATTProtocolError) and error.args and error.args[0] in (0x05, 0x0F):
        return True  # Insufficient Authentication / Insufficient Encryption
    text = str(error).lower()
    return "authentication" in text or "encryption" in text
