"""GATT writes from a bonded central to every characteristic of a simulated earbud process (tests/fuzz/sim_gatt.py):
a short barrage."""

from __future__ import annotations

import pytest

from tests.fuzz.sim_gatt import fuzz_simulator

pytestmark = pytest.mark.e2e


def test_every_write_gets_an_answer_and_the_earbud_stays_up(isolated_home):
    outcome = fuzz_simulator(seconds=3)
    assert outcome.executions > 5
    assert not outcome.crashes, outcome.crashes
