"""The link's quiet gate: while quiet, an audio frame is counted and dropped before it is decoded or queued."""

import asyncio

from host.link.earbud_link import EarbudLink
from protocol.audio import FrameEncoder


def frames(n: int) -> list[bytes]:
    encoder = FrameEncoder()
    return encoder.encode(bytes(range(256)) * (n * 640 // 256) + bytes(n * 640 % 256))


def test_frames_in_quiet_are_dropped_undecoded_and_counted():
    async def scenario():
        quiet = False
        decoded = []
        link = EarbudLink("C0:11:22:33:44:55", adapter="sim:127.0.0.1:9", is_quiet=lambda: quiet,
                          on_audio_frame=decoded.append)
        sent = frames(10)
        for frame in sent[:4]:
            link._on_audio_notification(None, bytearray(frame))
        quiet = True
        for frame in sent[4:]:
            link._on_audio_notification(None, bytearray(frame))
        return link, decoded

    link, decoded = asyncio.run(scenario())
    assert link.stats.audio_frames_received == 10
    assert link.stats.audio_frames_dropped_quiet == 6
    assert len(decoded) == 4 and link.audio.qsize() == 4
    assert link.receiver.stats["received"] == 4  # the receiver (the ADPCM decoder) never saw the quiet ones


def test_a_failing_gate_fails_closed_and_discard_forgets_everything():
    async def scenario():
        def broken() -> bool:
            raise RuntimeError("gate bug")

        link = EarbudLink("C0:11:22:33:44:55", adapter="sim:127.0.0.1:9", is_quiet=broken)
        link._on_audio_notification(None, bytearray(frames(1)[0]))
        dropped_by_gate = link.stats.audio_frames_dropped_quiet
        link.is_quiet = lambda: False
        for frame in frames(3):
            link._on_audio_notification(None, bytearray(frame))
        return link, dropped_by_gate, link.discard_audio()

    link, dropped_by_gate, discarded = asyncio.run(scenario())
    assert dropped_by_gate == 1 and link.stats.callback_errors == 1
    assert discarded == 3 and link.audio.empty()
    assert link.receiver.expected is None  # no concealment from old audio
    assert link.stats.receiver["received"] == 3  # the counters go on
