"""EarbudProtocol, the link's sans-I/O core, driven with plain bytes; and the thin shell's queues and quiet gate."""

from __future__ import annotations

import asyncio
import json

import pytest

from host.errors import EarpieceError
from host.link.earbud_link import EarbudLink
from host.link.earbud_protocol import EarbudProtocol
from host.link.errors import LinkRefusedError
from protocol import PROTOCOL_VERSION, control, gatt
from protocol.audio import FrameEncoder

CODECS = control.CODECS_MASK_ADPCM | control.CODECS_MASK_PCM16


def frames(n: int) -> list[bytes]:
    return FrameEncoder().encode(bytes(range(256)) * (n * 640 // 256) + bytes(n * 640 % 256))


def status(quiet: bool = False) -> control.Status:
    return control.Status(quiet, False, False, control.QUIET_SOURCE_HOST, 90, 1, 80, 0, 600, "fw-1")


def test_each_connection_starts_with_our_hello_and_waits_for_the_earbuds():
    protocol = EarbudProtocol(CODECS, "earpiece-host test " + "x" * 40)
    [hello] = control.decode_messages(protocol.connection_started())
    assert isinstance(hello, control.Hello)
    assert (hello.version, hello.codecs, len(hello.software)) == (PROTOCOL_VERSION, CODECS, 32)
    assert not protocol.handshake_done
    answer = control.EarbudHello(PROTOCOL_VERSION, CODECS, "fw-1")
    assert protocol.status_received(answer.encode()) == [answer]
    assert protocol.handshake_done and protocol.earbud_hello.firmware == "fw-1"
    protocol.connection_started()  # a reconnection: the old HELLO no longer counts
    assert not protocol.handshake_done and protocol.earbud_hello is None


def test_status_messages_are_decoded_remembered_and_bad_ones_counted():
    protocol = EarbudProtocol(CODECS, "t")
    button = control.Button(control.BUTTON_DOUBLE)
    assert protocol.status_received(control.encode_messages([status(quiet=True), button])) == [status(True), button]
    assert protocol.last_status.quiet
    for bad in (b"\x82", b"\xff\x00", b"\x83\x01\x09"):
        assert protocol.status_received(bad) == []
    assert protocol.stats.status_notifications == 4 and protocol.stats.status_malformed == 3
    assert protocol.stats.messages_received == 2


def test_audio_frames_decode_to_pcm_and_bad_frames_are_counted():
    protocol = EarbudProtocol(CODECS, "t")
    good = frames(2)
    assert len(protocol.audio_received(good[0])) == 640
    assert protocol.audio_received(b"\x09") == b"" and protocol.audio_received(bytes(500)) == b""
    assert len(protocol.audio_received(good[1])) == 640
    stats = protocol.stats.to_json()
    assert stats["audio_frames_received"] == 4 and stats["receiver"]["malformed"] == 2
    assert stats["audio_bytes_received"] == len(good[0]) + len(good[1]) + 501
    json.dumps(stats)


def test_frames_in_quiet_are_dropped_undecoded_and_counted():
    protocol = EarbudProtocol(CODECS, "t")
    sent = frames(10)
    delivered = [protocol.audio_received(f) for f in sent[:4]]
    protocol.quiet = True
    delivered += [protocol.audio_received(f) for f in sent[4:]]
    assert [len(pcm) for pcm in delivered] == [640] * 4 + [0] * 6
    assert protocol.stats.audio_frames_received == 10 and protocol.stats.audio_frames_dropped_quiet == 6
    assert protocol.receiver.stats["received"] == 4  # the decoder never saw the quiet ones


def test_a_too_small_mtu_is_refused_for_good():
    EarbudProtocol.check_mtu(gatt.MIN_MTU)
    with pytest.raises(LinkRefusedError, match="update its firmware") as error:
        EarbudProtocol.check_mtu(23)
    assert isinstance(error.value, EarpieceError) and isinstance(error.value, ConnectionError)


def test_control_messages_encode_alone_in_a_list_or_as_bytes():
    one = EarbudProtocol.encode_control(control.GetStatus())
    assert control.decode_messages(one) == [control.GetStatus()]
    two = EarbudProtocol.encode_control([control.SetVolume(50), control.GetStatus()])
    assert control.decode_messages(two) == [control.SetVolume(50), control.GetStatus()]
    assert EarbudProtocol.encode_control(bytearray(one)) == one


def test_the_links_quiet_attribute_gates_its_audio_queue_and_discard_forgets_everything():
    async def scenario() -> EarbudLink:
        link = EarbudLink("C0:11:22:33:44:55", adapter="sim:127.0.0.1:9")
        assert link.quiet is False
        link.quiet = True
        link._on_audio_notification(None, bytearray(frames(1)[0]))  # what bleak calls
        assert link.audio.empty() and link.stats.audio_frames_dropped_quiet == 1
        link.quiet = False
        for frame in frames(3):
            link._on_audio_notification(None, bytearray(frame))
        assert link.discard_audio() == 3 and link.audio.empty()
        return link

    link = asyncio.run(scenario())
    assert link.protocol.receiver.expected is None  # no concealment from old audio
    assert link.stats.receiver["received"] == 3  # the counters go on
