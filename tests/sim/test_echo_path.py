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
    path = EchoPath(EchoSpec(delay_ms=40, gain_db=-6, rt60_ms=100))
    heard = []
    for tick in range(20):  # the board's order: mic read, then the speaker's tick
        heard.append(np.frombuffer(path.mix(_pcm(np.zeros(TICK))), "<i2"))
        played = np.zeros(TICK)
        if tick == 0:
            played[0] = 20000
        path.played(_pcm(played))
    mic = np.concatenate(heard).astype(float)
    first = int(np.argmax(np.abs(mic)))
    assert first == 640  # 40 ms at 16 kHz
    assert mic[first] == pytest.approx(20000 * 10 ** (-6 / 20), abs=2)
    tail = mic[first + 1: first + 1600]
    assert 0 < np.sqrt(np.mean(tail[:400] ** 2)) and np.abs(tail[-400:]).max() < np.abs(tail[:400]).max()


def test_the_world_is_still_heard_under_the_echo(tmp_path):
    hal = SimHal([_pcm(np.full(16000, 1000))], tmp_path / "state.json")
    hal.echo = EchoPath(EchoSpec(20, 0, 0))
    hal.mic_start()
    hal._cursor -= 2 * TICK  # two ticks of the world already captured
    first = np.frombuffer(hal.mic_read(TICK), "<i2")
    hal.echo.played(_pcm(np.full(TICK, 500)))
    second = np.frombuffer(hal.mic_read(TICK), "<i2")
    assert (first == 1000).all() and (second == 1500).all()


def test_an_empty_room_is_the_direct_path():
    assert room_response(0).tolist() == [1.0]
    assert room_response(150)[0] == 1.0
