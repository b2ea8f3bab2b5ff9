"""Fuzz target: GATT writes from a connected, bonded (passkey) central to every characteristic and descriptor of a
simulated earbud process (`earpiece-sim earbud` on a radio), values drawn by hypothesis. The earbud must answer
every write with success or an ATT error, stay up, and still report its status afterwards.

    outcome = fuzz_simulator(seconds=30)      # also: `python -m tests.fuzz --only sim_gatt`
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocol import control
from protocol import gatt as layout
from tests.fuzz.runner import Outcome
from tests.fuzz.targets import _audio_frames, _control_messages

STATUS_TIMEOUT_S = 5.0
WRITE_TIMEOUT_S = 3.0  # the simulator answers in milliseconds; Bumble's own ATT timeout is 30 s


def _values(count: int) -> list[tuple[int, bytes]]:
    """`count` (characteristic index, value) pairs drawn by hypothesis (its generation, not its test runner:
    the writes happen in Bumble's event loop)."""
    drawn: list[tuple[int, bytes]] = []
    value = st.tuples(st.integers(0, 63), st.one_of(_control_messages(), _audio_frames(), st.binary(max_size=512)))

    @settings(max_examples=count, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(value)
    def draw(pair):
        drawn.append(pair)

    draw()
    return drawn


async def _barrage(radio, bud, seconds: float, outcome: Outcome) -> None:
    from bumble import att
    from bumble.core import ProtocolError as BumbleProtocolError

    from tests.sim.central import TestCentral, characteristic

    async with TestCentral(radio.transport_spec) as central:
        ad = await central.find(name=bud.name, service_uuid=layout.SERVICE_UUID)
        connection, peer = await central.connect(ad.address)
        start = len(bud.lines)
        central.passkey_source = lambda: bud.wait_for_passkey(start=start)
        await connection.pair()
        targets = [c for service in peer.services for c in service.characteristics]
        targets += [d for c in list(targets) for d in c.descriptors]
        status = characteristic(peer, layout.STATUS_UUID)
        heard: list[bytes] = []
        await status.subscribe(heard.append)
        deadline = time.monotonic() + seconds
        first = [(index, b"\x01") for index in range(len(targets))]  # every target once, whatever is drawn
        while time.monotonic() < deadline and targets:
            drawn, first = first + _values(100), []
            for index, value in drawn:
                target = targets[index % len(targets)]
                try:
                    await asyncio.wait_for(target.write_value(value, with_response=True), WRITE_TIMEOUT_S)
                except (att.ATT_Error, BumbleProtocolError):
                    pass  # an ATT error is a fine answer to garbage
                except asyncio.TimeoutError:  # unanswered: found once is enough, the others go on being fuzzed
                    outcome.crashes.setdefault(f"write to {target.uuid} unanswered", f"{value[:60]!r}")
                    targets.remove(target)
                    break
                outcome.executions += 1
                if time.monotonic() >= deadline:
                    break
        before = len(heard)
        write = characteristic(peer, layout.CONTROL_UUID).write_value(control.GetStatus().encode(), with_response=True)
        await asyncio.wait_for(write, 5.0)
        waited = time.monotonic()
        while len(heard) == before and time.monotonic() - waited < STATUS_TIMEOUT_S:
            await asyncio.sleep(0.05)
        if len(heard) == before:
            outcome.crashes.setdefault("no status after the barrage", "GET_STATUS went unanswered")


def fuzz_simulator(seconds: float = 30.0) -> Outcome:
    from host.system.simulator import start_earbud, start_radio

    outcome = Outcome("sim_gatt")
    began = time.monotonic()
    folder = Path(tempfile.mkdtemp(prefix="earpiece-fuzz-sim-"))
    with start_radio(log_dir=folder) as radio:
        with start_earbud(radio, "EP-Fuzz", state_dir=folder / "bud") as bud:
            try:
                asyncio.run(asyncio.wait_for(_barrage(radio, bud, seconds, outcome), seconds + 60))
            except Exception as error:  # noqa: BLE001 — anything that ends the barrage early is a finding
                outcome.crashes.setdefault(f"{type(error).__name__} in the barrage", str(error)[:300])
            if bud.proc.poll() is not None:
                outcome.crashes.setdefault("the earbud exited", bud.log_tail(10))
            log = bud.log_tail(100000)
            for line in log.splitlines():
                if line.startswith("bumble.core.") or line.endswith("Error") or "Error: " in line:
                    outcome.crashes.setdefault(f"earbud log: {line[:120]}", "see the earbud's log")
    outcome.seconds = time.monotonic() - began
    return outcome
