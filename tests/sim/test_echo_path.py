"""The simulated earbud's echo path: its speaker's output reaches its mic later, quieter, with a room tail."""

import numpy as np
import pytest

from device_sim.echo_path import EchoPath, EchoSpec, parse_echo, room_response
from device_sim.sim_hal import SimHal

TICK = 320


def _pcm(x: np.ndarray) -> bytes:
    return np.asarray(x, dtype="<i2").tobytes()


def test_parse_echo():
    assert parse_echo("20:-10:150") == EchoSpec(20.0, -10.0, 150.0)
    assert parse_echo("40:-6") == EchoSpec(40.0, -6.0)
    for bad in ("20", "a:b", "20:-10:150:1", "-5:-10", "20:40"):
        with pytest.raises(ValueError, match="--echo"):
            parse_echo(bad)


def test_an_impulse_comes_back_delayed_attenuated_and_ringing():
    now = [10.0]
    path = EchoPath(EchoSpec(delay_ms=40, gain_db=-6, rt60_ms=100), clock=lambda: now[0])
    heard = []
    for tick in range(20):  # the board's order: mic read (the 20 ms just captured), then the speaker's tick
        heard.append(np.frombuffer(path.mix(_pcm(np.zeros(TICK)), now[0] - 0.02), "<i2"))
        played = np.zeros(TICK)
        if tick == 0:
            played[0] = 20000
        path.played(_pcm(played), now[0] + 0.001 * (tick % 3))  # ticks jitter; the speaker plays on regardless
        now[0] += 0.02
    mic = np.concatenate(heard).astype(float)
    first = int(np.argmax(np.abs(mic)))
    assert first == 320 + 640  # the tick it was played in, then 40 ms
    assert mic[first] == pytest.approx(20000 * 10 ** (-6 / 20), abs=2)
    tail = mic[first + 1: first + 1600]
    assert 0 < np.sqrt(np.mean(tail[:400] ** 2)) and np.abs(tail[-400:]).max() < np.abs(tail[:400]).max()


def test_the_echo_is_a_steady_copy_of_the_speaker_whatever_the_ticks_do():
    now = [5.0]
    path = EchoPath(EchoSpec(delay_ms=20, gain_db=0, rt60_ms=0), clock=lambda: now[0])
    tone = (8000 * np.sin(np.arange(TICK * 50) * 0.05)).astype(np.int16)
    rng = np.random.default_rng(3)
    for tick in range(50):
        path.played(_pcm(tone[tick * TICK:(tick + 1) * TICK]), now[0] + (rng.uniform(0, 0.012) if tick else 0))
        now[0] += 0.02
    echo = np.frombuffer(path.mix(_pcm(np.zeros(TICK * 40)), 5.0 + 0.02 + 0.1), "<i2")  # from 0.1 s in
    assert np.abs(echo.astype(int) - tone[1600:1600 + TICK * 40]).max() <= 1


def test_the_world_is_still_heard_under_the_echo(tmp_path):
    hal = SimHal([_pcm(np.full(16000, 1000))], tmp_path / "state.json")
    hal.mic_start()
    hal.echo = EchoPath(EchoSpec(0, 0, 0))
    hal._cursor -= 2 * TICK  # two ticks of the world already captured
    assert (np.frombuffer(hal.mic_read(TICK), "<i2") == 1000).all()  # nothing played yet
    hal.echo.played(_pcm(np.full(TICK * 10, 500)), hal._world_start - 0.1)
    assert (np.frombuffer(hal.mic_read(TICK), "<i2") == 1500).all()


def test_an_empty_room_is_the_direct_path():
    assert room_response(0).tolist() == [1.0]
    assert room_response(150)[0] == 1.0
