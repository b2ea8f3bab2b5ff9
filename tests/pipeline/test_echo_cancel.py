"""Echo cancellation with the real WebRTC AEC3 (pywebrtc-audio), the played-audio timeline, and stop words."""

import asyncio

import numpy as np
import pytest

from host.bridge.echo_reference import EchoCancelledUplink, PlayedAudio
from host.pipeline.echo_cancel import EchoCanceller
from host.pipeline.linear_echo import LinearEchoCanceller
from host.pipeline.stop_words import StopWords, is_stop_command
from protocol.audio import CODEC_ADPCM, FrameEncoder

RATE = 16000


def _room_echo(far: np.ndarray, delay_s: float, gain_db: float) -> np.ndarray:
    rng = np.random.default_rng(1)
    n = int(0.08 * RATE)
    response = rng.normal(size=n) * np.exp(-np.arange(n) / (0.015 * RATE)) * 0.3
    response[0] = 1.0
    echo = np.convolve(far, response)[: len(far)] * 10 ** (gain_db / 20)
    return np.concatenate([np.zeros(int(delay_s * RATE)), echo])[: len(far)]


def _pcm(x: np.ndarray) -> bytes:
    return np.clip(x, -32768, 32767).astype("<i2").tobytes()


@pytest.fixture(scope="module")
def reply(speech):
    return np.frombuffer(speech("Here is a long reply that goes on for a while so that the echo canceller has "
                                "time to learn the room and then cancel most of what it hears."), "<i2").astype(float)


@pytest.mark.parametrize("delay_s", [0.05, 0.3])
def test_a_room_echo_is_cancelled(reply, delay_s):
    echo = _room_echo(reply, delay_s, gain_db=-6)
    canceller = EchoCanceller()
    out = np.frombuffer(canceller.process(_pcm(echo), _pcm(reply)), "<i2").astype(float)
    later = slice(len(out) // 3, len(out))  # after it converged
    erle = 10 * np.log10(np.sum(echo[later] ** 2) / max(np.sum(out[later] ** 2), 1.0))
    assert erle > 20, erle
    assert canceller.echo_return_loss_db() > 10


def test_chunks_of_any_size_come_out_whole(reply):
    canceller = EchoCanceller()
    near, far = _pcm(reply[:3210]), _pcm(reply[:3210])
    out = canceller.process(near[:1000], far[:1000]) + canceller.process(near[1000:], far[1000:])
    assert len(out) == 6400  # 20 whole 10 ms frames; the last 10 samples wait for more
    with pytest.raises(ValueError):
        canceller.process(b"\0\0", b"")


def _frames(pcm: bytes) -> list[bytes]:
    encoder = FrameEncoder(CODEC_ADPCM)
    return encoder.encode(pcm) + encoder.flush()


def test_played_audio_is_contiguous_and_stops_where_it_was_stopped():
    tone = _pcm(8000 * np.sin(np.arange(3200) * 0.1))
    played = PlayedAudio()
    frames = _frames(tone)  # ten frames and the padded last one
    for i, frame in enumerate(frames):
        played.frame_sent(frame, 10.0 + i * 0.019)  # the pacer's estimate drifts; the earbud plays them back to back
    assert played.end == pytest.approx(10.0 + len(frames) * 0.02)
    assert np.abs(played.read(10.0, 3200)).max() > 4000
    assert not played.read(9.0, 1600).any()
    played.stopped(10.1)
    assert played.end == pytest.approx(10.1)
    assert not played.read(10.1, 1600).any()


def test_the_uplink_passes_untouched_when_nothing_plays():
    now = [100.0]
    uplink = EchoCancelledUplink(clock=lambda: now[0])
    chunk = _pcm(np.full(320, 1234))
    assert uplink.cancel(chunk) == chunk
    assert uplink.stats["passed_chunks"] == 1 and uplink.echo_return_loss_db() is None


def test_the_uplink_lines_up_on_the_fastest_arrival(reply):
    """Chunks arriving in bursts read the reference on one continuous timeline, the earliest arrival's."""
    now = [50.0]
    uplink = EchoCancelledUplink(clock=lambda: now[0])
    starts = []
    for arrival in (50.02, 50.1, 50.1, 50.1, 50.12):  # held up, then a burst: three chunks at once
        now[0] = arrival
        starts.append(uplink._line_up(arrival, 320))
    assert starts == pytest.approx([50.0, 50.02, 50.04, 50.06, 50.08])
    now[0] = 52.0  # a second of audio lost on the way: line up again
    assert uplink._line_up(52.0, 320) == pytest.approx(51.98) and uplink.stats["resyncs"] == 1


@pytest.mark.parametrize("text, stops", [("Stop.", True), ("Okay, stop!", True), ("Never mind.", True),
                                         ("Be quiet.", True), ("Hey Jarvis, stop.", True), ("Uh-huh.", False),
                                         ("Okay.", False), ("Mm-hmm.", False), ("Stop the timer.", False), ("", False),
                                         ("Stop. Stop.", True), ("Never mind. Never mi", True),
                                         ("Stop. Go on.", False), ("Stop, the timer.", False),
                                         ("Never minds never minds never", True), ("Stop stopping", False)])
def test_stop_commands(text, stops):
    assert is_stop_command(text) is stops


def test_stop_words_spotted_by_the_recognizer_backchannels_not(engines, speech):
    async def run(words: str) -> list[str]:
        heard: list[str] = []

        async def on_stop(text: str) -> None:
            heard.append(text)

        spotter = StopWords(engines.asr.transcribe, on_stop)
        spotter.hear(bytes(6400) + speech(words) + bytes(6400))
        await asyncio.gather(*spotter.pending())
        return heard

    assert asyncio.run(run("stop")) and asyncio.run(run("never mind"))
    assert not asyncio.run(run("uh-huh")) and not asyncio.run(run("okay"))
    assert not asyncio.run(run("The weather will be mild today with a little rain in the afternoon."))


def test_the_linear_canceller_learns_for_its_first_seconds_of_reference():
    canceller = LinearEchoCanceller()
    far = (np.sin(np.arange(160) / 3) * 3000).astype(np.int16)
    blocks = 0
    while canceller.learning:
        canceller.process(np.zeros(160, np.int16), far)
        blocks += 1
    # 3 s of reference sounding (FIRST_BLOCKS), read from behind the delay the filter starts at (~0.2 s)
    assert 300 <= blocks <= 330, blocks


def test_the_cancellers_have_learned_once_the_linear_one_removes_10_db_of_echo(reply):
    """The session listens over replies only once this says so: not on a mic that only carries the echo's noise
    (nothing to learn), and once learned, a stretch the filter cannot cancel (the wearer talking) does not undo it."""
    canceller = EchoCanceller()
    far = _pcm(reply[:RATE])
    canceller.process_both(_pcm(np.random.default_rng(2).normal(0, 3000, RATE)), far)  # a mic unrelated to the reply
    assert canceller.learning
    echo = _room(reply, 0.22, -10)
    learned_at = None
    for start in range(0, len(reply) - 159, 160):
        canceller.process_both(_pcm(echo[start:start + 160]), _pcm(reply[start:start + 160]))
        if learned_at is None and not canceller.learning:
            learned_at = start / RATE
    assert learned_at is not None and learned_at < 3.0, learned_at
    canceller.process_both(_pcm(np.random.default_rng(3).normal(0, 3000, RATE)), far)
    assert not canceller.learning


def _room(far: np.ndarray, lag_s: float, gain_db: float) -> np.ndarray:
    """The simulated earbud's room (device_sim/echo_path.py: a direct path and a 150 ms tail), `lag_s` late."""
    from device_sim.echo_path import room_response

    echo = np.convolve(far, room_response(150))[: len(far)] * 10 ** (gain_db / 20)
    return np.concatenate([np.zeros(int(lag_s * RATE)), echo])[: len(far)]


def _linear(near: np.ndarray, far: np.ndarray) -> np.ndarray:
    canceller = LinearEchoCanceller()
    return np.concatenate([canceller.process(near[i:i + 160], far[i:i + 160]) for i in range(0, len(near) - 159, 160)])


def test_the_linear_canceller_removes_the_echo_and_keeps_the_voice_said_over_it(reply, speech):
    """Where AEC3 dents a word said over the reply, the linear canceller passes it whole (bench_echo_cancel)."""
    echo = _room(reply, 0.22, -10)
    voice = np.zeros_like(echo)
    word = np.frombuffer(speech("never mind"), "<i2").astype(float)
    at = int(len(echo) * 0.6)
    voice[at: at + len(word)] = word[: len(echo) - at]
    out = _linear(echo + voice, reply)
    alone = slice(3 * RATE, at - RATE // 10)
    erle = 10 * np.log10(np.sum(echo[alone] ** 2) / np.sum(out[alone] ** 2))
    span = slice(at, at + len(word))
    assert erle > 15, erle
    assert np.corrcoef(voice[span], out[span])[0, 1] > 0.95


def test_the_delay_estimator_follows_a_jump_of_the_reference(reply):
    """The bridge's reference timeline can jump between sentences; the filter reads the reference from the new delay."""
    half = len(reply) // 2
    echo = np.concatenate([_room(reply[:half], 0.21, -10), _room(reply[half:], 0.25, -10)])
    estimator = LinearEchoCanceller()
    _ = [estimator.process(echo[i:i + 160], reply[i:i + 160]) for i in range(0, half - 159, 160)]
    assert abs(estimator.delays.delay - 0.21 * RATE) < 40
    for i in range(half, half + 2 * RATE, 160):
        estimator.process(echo[i:i + 160], reply[i:i + 160])
    assert abs(estimator.delays.delay - 0.25 * RATE) < 40


def test_the_uplink_returns_both_versions_aligned(reply):
    now = [10.0]
    uplink = EchoCancelledUplink(clock=lambda: now[0])
    for frame in _frames(_pcm(reply[: 2 * RATE])):
        uplink.frame_sent(frame, 10.0)  # plays from 10.0 on, back to back
    returned = b""
    for i in range(0, RATE, 320):
        now[0] += 0.02
        returned += uplink.cancel(_pcm(reply[i:i + 320] * 0.3))
    assert uplink.stats["cancelled_chunks"] == 50
    assert len(uplink.recent_linear(len(returned))) == len(returned)


def test_stop_words_recognize_the_linear_version_first(engines, speech):
    """The VAD hears AEC3's output; the recognizer the linear canceller's audio of the same stretch (and before it)."""
    async def run(cancelled: bytes, linear: bytes) -> list[str]:
        heard: list[str] = []

        async def on_stop(text: str) -> None:
            heard.append(text)

        spotter = StopWords(engines.asr.transcribe, on_stop)
        spotter.linear_audio = lambda n: linear[:len(cancelled)][-n:]
        spotter.hear(cancelled)
        await asyncio.gather(*spotter.pending())
        return heard

    okay, stop = speech("okay"), speech("stop")
    # What AEC3 left says "okay"; the linear canceller's audio of the same stretch says "stop".
    length = max(len(okay), len(stop))
    pad = lambda pcm: bytes(6400) + pcm + bytes(length - len(pcm) + 6400)  # noqa: E731
    assert asyncio.run(run(pad(okay), pad(stop)))
    assert not asyncio.run(run(pad(okay), pad(okay)))
