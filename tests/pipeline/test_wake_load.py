"""Over capacity the newest earbuds' wake scoring is shed, never all of them, and restored when the load drops."""

import gc

from host.pipeline.wake_load import LoadShedder


class Stream:
    """Stands for one earbud's audio (the bridge uses the session's AudioClock)."""


def served(shedder: LoadShedder, streams: list[Stream]) -> list[bool]:
    return [shedder.scored(stream) for stream in streams]


def test_falling_behind_sheds_the_newest_stream_first_and_keeping_up_restores_it():
    shedder = LoadShedder(shed_lag_s=0.6, restore_busy=0.6, hold_s=2.0, smoothing=1.0)
    streams = [Stream() for _ in range(3)]
    for stream in streams:
        shedder.add(stream)
    shedder.observe(lag_s=0.05, busy=0.5, now=10.0)
    assert served(shedder, streams) == [True, True, True]

    shedder.observe(lag_s=2.0, busy=1.0, now=11.0)  # behind, but not for hold_s yet
    assert served(shedder, streams) == [True, True, True]
    shedder.observe(lag_s=2.0, busy=1.0, now=13.5)
    assert served(shedder, streams) == [True, True, False]
    assert shedder.shed_blocks[streams[2]] == 1  # every block left unscored is counted for its earbud
    shedder.observe(lag_s=2.0, busy=1.0, now=14.0)  # a change waits hold_s for the load to settle
    assert served(shedder, streams) == [True, True, False]
    shedder.observe(lag_s=2.0, busy=1.0, now=15.5)
    assert served(shedder, streams) == [True, False, False]
    shedder.observe(lag_s=9.0, busy=1.0, now=30.0)  # however slow the machine: the oldest earbud is served
    shedder.observe(lag_s=9.0, busy=1.0, now=40.0)
    assert served(shedder, streams) == [True, False, False]

    shedder.observe(lag_s=0.05, busy=0.9, now=41.0)  # caught up but still busy: stays shed
    shedder.observe(lag_s=0.05, busy=0.9, now=50.0)
    assert served(shedder, streams) == [True, False, False]
    shedder.observe(lag_s=0.05, busy=0.3, now=51.0)
    shedder.observe(lag_s=0.05, busy=0.3, now=53.5)
    assert served(shedder, streams) == [True, True, False]
    shedder.observe(lag_s=0.05, busy=0.3, now=54.0)
    assert served(shedder, streams) == [True, True, False]
    shedder.observe(lag_s=0.05, busy=0.3, now=55.5)
    assert served(shedder, streams) == [True, True, True]
    assert shedder.stats == {"sheds": 2, "restores": 2}


def test_a_stream_that_ends_leaves_and_a_restarted_one_keeps_its_place():
    shedder = LoadShedder(hold_s=0.0, smoothing=1.0)
    first, second = Stream(), Stream()
    shedder.add(first)
    shedder.add(second)
    shedder.add(first)  # a fresh detector on the same clock (after quiet) is not "newer"
    shedder.observe(lag_s=5.0, busy=1.0, now=1.0)
    shedder.observe(lag_s=5.0, busy=1.0, now=1.0)
    assert served(shedder, [first, second]) == [True, False]
    del first
    gc.collect()
    assert shedder.scored(second)  # alone now: the only stream is always served


def test_far_past_capacity_an_eighth_is_shed_at_once_and_no_more_while_the_lag_drains():
    shedder = LoadShedder(shed_lag_s=0.3, hold_s=1.0, smoothing=1.0)
    streams = [Stream() for _ in range(56)]
    for stream in streams:
        shedder.add(stream)
    shedder.observe(lag_s=0.8, busy=1.0, now=1.0)
    shedder.observe(lag_s=0.8, busy=1.0, now=2.0)
    assert served(shedder, streams) == [True] * 49 + [False] * 7  # the newest seven, at once
    shedder.observe(lag_s=0.6, busy=1.0, now=2.5)  # draining: shedding more would shed too many
    shedder.observe(lag_s=0.5, busy=1.0, now=4.0)
    assert served(shedder, streams).count(False) == 7
    shedder.observe(lag_s=0.6, busy=1.0, now=4.5)  # no longer draining and still behind: seven more
    shedder.observe(lag_s=0.6, busy=1.0, now=5.5)
    assert served(shedder, streams).count(False) == 14
    assert shedder.stats == {"sheds": 2, "restores": 0}
