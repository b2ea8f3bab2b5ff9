"""The downlink pacer keeps the earbud's speaker buffer topped up without overflowing it.

The earbud is modelled by its speaker buffer: frames arrive after a link delay and play out in real time. This is
the pacer's contract in isolation; the end-to-end tests check the real earbud's underrun/overflow counters.
"""

import asyncio

from host.bridge.downlink import DownlinkPacer
from protocol.audio import decode_frame
from protocol.control import Speaker

FRAME_MS = 20


class SpeakerModel:
    """An earbud speaker: a buffer of `capacity_ms`, played in real time once it holds `start_ms`."""

    def __init__(self, capacity_ms=600, start_ms=60):
        self.capacity_ms = capacity_ms
        self.start_ms = start_ms
        self.level_ms = 0.0
        self.playing = False
        self.underruns = 0
        self.overflows = 0
        self.frames = []

    def receive(self, frame: bytes) -> None:
        self.frames.append(decode_frame(frame))
        if self.level_ms + FRAME_MS > self.capacity_ms:
            self.overflows += 1
            return
        self.level_ms += FRAME_MS
        if self.level_ms >= self.start_ms:
            self.playing = True

    def play(self, ms: float) -> None:
        if not self.playing:
            return
        if self.level_ms < ms and not self.frames[-1].flags & 2:  # END flag: the reply is over, not an underrun
            self.underruns += 1
        self.level_ms = max(0.0, self.level_ms - ms)
        if self.level_ms == 0:
            self.playing = False


async def play_reply(pacer_kwargs, seconds=2.0, link_delay_s=0.03, report_every_s=0.1):
    speaker = SpeakerModel()
    loop = asyncio.get_running_loop()

    async def send(frame: bytes) -> None:
        loop.call_later(link_delay_s, speaker.receive, frame)

    pacer = DownlinkPacer(send, **pacer_kwargs)
    runner = asyncio.create_task(pacer.run())
    pacer.play(bytes(int(16000 * seconds) * 2))
    pacer.end_reply()
    start = last = loop.time()
    next_report = start + report_every_s
    max_level = 0.0
    while last - start < seconds + 1.0:
        await asyncio.sleep(0.01)
        now = loop.time()
        speaker.play((now - last) * 1000)  # the earbud plays in real time, however late this loop wakes
        last = now
        max_level = max(max_level, speaker.level_ms)
        if now >= next_report:
            next_report += report_every_s
            pacer.speaker_report(Speaker(int(speaker.level_ms), speaker.capacity_ms, speaker.underruns, speaker.overflows))
    runner.cancel()
    return pacer, speaker, max_level


def test_a_reply_arrives_whole_without_overflow_and_within_target():
    pacer, speaker, max_level = asyncio.run(play_reply({"target_ms": 240}))
    # 2 s of 20 ms frames, plus the END frame (silence) that closes a frame-aligned reply.
    assert len(speaker.frames) == 101
    assert [f.seq for f in speaker.frames] == [(speaker.frames[0].seq + i) % 65536 for i in range(101)]
    assert speaker.frames[0].flags & 1 and speaker.frames[-1].flags & 2  # START ... END
    assert speaker.overflows == 0
    assert max_level <= 240 + FRAME_MS
    assert pacer.stats["frames_sent"] == 101


def test_the_first_frames_leave_at_once_then_it_waits_for_the_earbud():
    sent = []

    async def scenario():
        async def send(frame):
            sent.append(frame)

        # A frozen clock: the earbud plays nothing, so the pacer must stop at its target, whatever the machine's load.
        pacer = DownlinkPacer(send, target_ms=240, clock=lambda: 1000.0)
        task = asyncio.create_task(pacer.run())
        pacer.play(bytes(16000 * 2))
        await asyncio.sleep(0.1)
        # The earbud's first report comes with its first frame in, the rest of the burst still on its way: taken at
        # its word, it would make the pacer send as much again and overfill the earbud (seen: 440 ms for 240).
        pacer.speaker_report(Speaker(20, 600, 0, 0))
        await asyncio.sleep(0.1)
        task.cancel()
        return pacer

    pacer = asyncio.run(scenario())
    assert len(sent) == 12  # 240 ms of 20 ms frames, sent without waiting; the rest waits for the earbud to play
    assert pacer.estimated_level_ms() == 240


def test_stop_drops_what_is_queued():
    sent = []

    async def scenario():
        async def send(frame):
            sent.append(frame)

        pacer = DownlinkPacer(send, target_ms=100)
        task = asyncio.create_task(pacer.run())
        pacer.play(bytes(16000 * 2 * 3))
        await asyncio.sleep(0.01)
        pacer.stop()
        count = len(sent)
        await asyncio.sleep(0.2)
        task.cancel()
        return pacer, count

    pacer, count = asyncio.run(scenario())
    assert len(sent) == count == 5
    assert pacer.stats["stopped"] == 1
    assert not pacer.busy


def test_wait_played_returns_once_the_earbud_has_played_everything_it_was_sent():
    async def scenario():
        loop = asyncio.get_running_loop()

        async def send(frame):
            pass

        pacer = DownlinkPacer(send, target_ms=240, clock=loop.time)
        task = asyncio.create_task(pacer.run())
        pacer.play(bytes(int(16000 * 0.1) * 2))  # 100 ms: sent at once
        pacer.end_reply()
        # Mid-way the earbud reports it holds more than we thought (it started late): the wait lasts that long.
        loop.call_later(0.05, pacer.speaker_report, Speaker(300, 600, 0, 0))
        started = loop.time()
        await pacer.wait_played()
        elapsed = loop.time() - started
        task.cancel()
        return pacer, elapsed

    pacer, elapsed = asyncio.run(scenario())
    assert pacer.estimated_level_ms() == 0 and not pacer.busy
    assert elapsed >= 0.05 + 0.3 - 0.01  # the report's 300 ms, from when it came


class Timeline:
    """The pacer's observer: when each frame plays, by its estimate."""

    def __init__(self):
        self.plays_at = []

    def frame_sent(self, frame, plays_at):
        self.plays_at.append(plays_at)

    def stopped(self, at):
        pass


def _reply_after_cues(cues, cue_at=1000.0, reply_at=1000.01):
    now = [cue_at]
    timeline = Timeline()

    async def scenario():
        async def send(frame):
            pass

        pacer = DownlinkPacer(send, target_ms=240, clock=lambda: now[0])
        pacer.observer = timeline
        task = asyncio.create_task(pacer.run())
        for cue in cues:
            pacer.cue_sent(cue)
        now[0] = reply_at
        pacer.play(bytes(16000 * 2))
        await asyncio.sleep(0.05)
        level = pacer.estimated_level_ms(reply_at + 0.1)
        task.cancel()
        return level

    return asyncio.run(scenario()), timeline.plays_at


def test_a_reply_that_follows_a_cue_plays_when_the_cue_ends():
    """The earbud holds a reply while a cue sounds (protocol/cues.py): the reply's frames play after it, one after
    another, and its buffer does not drain meanwhile."""
    from protocol.control import CUE_LISTEN_END, CUE_WAKE
    from protocol.cues import duration_ms

    from host.bridge.downlink import CUE_START_S

    level, plays_at = _reply_after_cues([CUE_LISTEN_END])
    cue_end = 1000.0 + CUE_START_S + duration_ms(CUE_LISTEN_END) / 1000
    assert abs(plays_at[0] - cue_end) < 1e-6
    assert [round((b - a) * 1000) for a, b in zip(plays_at, plays_at[1:])] == [20] * 11
    assert level == 240  # 0.1 s after the reply was sent, the cue still sounds: nothing has played
    # Two cues play one after the other; a reply waits for them at most REPLY_HOLD_MAX_MS (then plays under them).
    _, plays_at = _reply_after_cues([CUE_WAKE, CUE_LISTEN_END])
    assert abs(plays_at[0] - (1000.01 + CUE_START_S + 0.25)) < 1e-6
    # A reply after the cue has ended plays at once.
    _, plays_at = _reply_after_cues([CUE_LISTEN_END], reply_at=1000.5)
    assert plays_at[0] == 1000.5
